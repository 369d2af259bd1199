//! The tape against serde_json, and its validator view against the `Value` validator.

use super::*;

#[test]
fn reads_what_serde_json_reads() {
    let texts = [
        r#"{"i":-3,"u":18446744073709551615,"f":1.5e3,"s":"\u00e9\n","n":null,"t":true,"l":[[],{}, [1, [2, {"x": "y"}]]]}"#,
        r#"{"k\"ey": "v", "nested": {"a": {"b": {"c": [1.0, -0.0, 1e-7]}}}}"#,
        "[1, \"two\", {\"three\": 3}]",
        "\"just a string\"",
        "17",
        "null",
        "{}",
        "[]",
    ];
    for text in texts {
        let tape = JsonTape::parse(text).unwrap();
        assert_eq!(
            tape.to_value(),
            serde_json::from_str::<Value>(text).unwrap(),
            "{text}"
        );
    }
}

#[test]
fn refuses_what_is_not_one_json_value_or_repeats_a_name() {
    for text in ["", "{", "[1,]", "{\"a\":1} x", "{\"a\" 1}", "nul"] {
        assert!(
            matches!(JsonTape::parse(text), Err(TapeError::Syntax(_))),
            "{text}"
        );
    }
    let deep = format!("{}{}", "[".repeat(200), "]".repeat(200));
    assert!(matches!(JsonTape::parse(&deep), Err(TapeError::Syntax(_))));
    for text in [
        r#"{"a":1,"a":2}"#,
        r#"{"x":[{"b":1,"c":2,"b":3}]}"#,
        r#"{"\u0061":1,"a":2}"#,
    ] {
        assert!(
            matches!(JsonTape::parse(text), Err(TapeError::DuplicateMember)),
            "{text}"
        );
    }
    // Many members: the sorted check.
    let many: Vec<String> = (0..40).map(|i| format!("\"k{i}\":{i}")).collect();
    let unique = format!("{{{}}}", many.join(","));
    assert!(JsonTape::parse(&unique).is_ok());
    let repeated = format!("{{{},\"k7\":0}}", many.join(","));
    assert!(matches!(
        JsonTape::parse(&repeated),
        Err(TapeError::DuplicateMember)
    ));
    // The same name in different objects is fine.
    assert!(JsonTape::parse(r#"{"a":{"a":{"a":1}},"b":{"a":2}}"#).is_ok());
}

#[test]
fn leading_values_end_where_the_next_text_starts() {
    let text = r#"  {"a":[1,{"b":2}]} , 17]"#;
    let (tape, end) = JsonTape::parse_leading(text).unwrap().unwrap();
    assert_eq!(&text[end..], " , 17]");
    assert_eq!(tape.to_value(), serde_json::json!({"a": [1, {"b": 2}]}));
    let (tape, end) = JsonTape::parse_leading(&text[end + 3..]).unwrap().unwrap();
    assert_eq!((tape.to_value(), end), (serde_json::json!(17), 2));
    assert!(JsonTape::parse_leading("   ").is_none());
    assert!(matches!(
        JsonTape::parse_leading(r#"{"a":1,"a":1}, 2"#),
        Some(Err(TapeError::DuplicateMember))
    ));
    assert!(matches!(
        JsonTape::parse_leading("{oops}"),
        Some(Err(TapeError::Syntax(_)))
    ));
    assert!(matches!(
        JsonTape::parse_leading("17x"),
        Some(Err(TapeError::Syntax(_)))
    ));
}

#[test]
fn a_cursor_finds_what_member_finds_in_any_order() {
    let text = r#"{"a":1,"b":{"a":[{"c":2}],"c":null},"c":"x","d":[],"e":{"f":{"g":3}}}"#;
    let tape = JsonTape::parse(text).unwrap();
    let root = tape.root();
    let names = ["a", "b", "c", "d", "e", "missing", "f", "g"];
    let position = |node: Option<TapeNode<'_>>| node.map(|n| n.at);
    // In order, in reverse, repeated, and in a scattered order; one cursor throughout,
    // also used on a nested object in between.
    let orders: [&[usize]; 4] = [
        &[0, 1, 2, 3, 4, 5],
        &[4, 3, 2, 1, 0, 5],
        &[1, 1, 2, 2, 0, 0, 6],
        &[2, 7, 0, 4, 1, 3, 5, 2],
    ];
    for order in orders {
        let mut cursor = MemberCursor::default();
        for &i in order {
            let name = names[i];
            assert_eq!(
                position(root.member_from(name, &mut cursor)),
                position(root.member(name)),
                "{name} in {order:?}"
            );
            let nested = root.member("b").unwrap();
            assert_eq!(
                position(nested.member_from(name, &mut cursor)),
                position(nested.member(name)),
                "b/{name} in {order:?}"
            );
        }
    }
}

#[test]
fn pointers_find_what_serde_json_finds() {
    let text = r#"{"a":{"b/c":[10,{"d~e":"x"}]},"n":null,"0":1,"l":[1,2]}"#;
    let value: Value = serde_json::from_str(text).unwrap();
    let tape = JsonTape::parse(text).unwrap();
    for pointer in [
        "",
        "/a",
        "/a/b~1c",
        "/a/b~1c/1/d~0e",
        "/a/b~1c/0",
        "/n",
        "/0",
        "/l/1",
        "/l/01",
        "/l/+1",
        "/l/2",
        "/missing",
        "/a/b~1c/x",
        "a",
    ] {
        assert_eq!(
            tape.root().pointer(pointer).map(|n| n.value()),
            value.pointer(pointer).cloned(),
            "{pointer:?}"
        );
    }
    assert!(tape.has_member_named("d~e"));
    assert!(!tape.has_member_named("x"));
    assert_eq!(tape.widest_object(), 4);
    assert_eq!(JsonTape::parse("[1]").unwrap().widest_object(), 0);
}

#[test]
fn meets_the_validators_contract() {
    let text = jsonschema::json::conformance::document().to_string();
    let tape = JsonTape::parse(&text).unwrap();
    jsonschema::json::conformance::assert_conformance::<TapeJson>(&tape.root());
}
