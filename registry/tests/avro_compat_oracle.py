#!/usr/bin/env python3
"""Classify Avro reader/writer pairs with the `avro` package's ReaderWriterCompatibilityChecker.

Input (argv[1]): a JSON array of {"id": str, "reader": schema, "writer": schema}.
Output (stdout): a JSON object {id: {"compatible": bool, "incompatibilities": [str]}}.
Exit code 3 when the `avro` package is missing.
"""
import json
import sys

try:
    import avro.schema
    from avro.compatibility import ReaderWriterCompatibilityChecker, SchemaCompatibilityType
except ImportError as error:  # pragma: no cover
    print(f"the python 'avro' package is missing ({error}); install it with: "
          "pip install avro==1.12.0", file=sys.stderr)
    sys.exit(3)


def main() -> None:
    with open(sys.argv[1], encoding="utf-8") as f:
        pairs = json.load(f)
    out = {}
    for pair in pairs:
        reader = avro.schema.parse(json.dumps(pair["reader"]))
        writer = avro.schema.parse(json.dumps(pair["writer"]))
        result = ReaderWriterCompatibilityChecker().get_compatibility(reader, writer)
        out[pair["id"]] = {
            "compatible": result.compatibility is SchemaCompatibilityType.compatible,
            "incompatibilities": sorted({i.name.upper() for i in result.incompatibilities}),
        }
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main()
