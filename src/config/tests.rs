//! Unit tests of configuration parsing and validation.

use super::*;

fn parse_toml(text: &str) -> Result<Config, ConfigError> {
    let file: Settings = Figment::new()
        .merge(Toml::string(text))
        .extract()
        .map_err(|e| describe_figment_error(&e))?;
    Config::from_layers(&file)
}

#[test]
fn defaults_are_embedded_and_loopback() {
    let config = parse_toml("").unwrap();
    assert_eq!(config.listen, "127.0.0.1:8080".parse().unwrap());
    assert_eq!(config.data_dir, PathBuf::from("tributary-data"));
    assert_eq!(
        config.database_url,
        "sqlite://tributary-data/tributary.db?mode=rwc"
    );
    assert!(matches!(
        config.event_log,
        EventLogConfig::Embedded { ref dir, fsync: tributary_eventlog::FsyncPolicy::Always, .. }
            if dir == Path::new("tributary-data/eventlog")
    ));
    assert_eq!(config.online_store, OnlineStore::Embedded);
    assert_eq!(config.default_partitions, 3);
    assert_eq!(config.default_retention, Duration::from_secs(7 * 86_400));
}

#[test]
fn kafka_section_applies_when_kafka_is_set() {
    let config = parse_toml(
        r#"
        kafka = "k1:9092, k2:9093"
        [kafka_client]
        append_timeout = "5s"
        max_in_flight = "8MiB"
        properties = { "security.protocol" = "SASL_SSL" }
        "#,
    )
    .unwrap();
    let EventLogConfig::Kafka {
        bootstrap_servers,
        append_timeout,
        max_in_flight_bytes,
        properties,
        ..
    } = config.event_log
    else {
        panic!("expected kafka");
    };
    assert_eq!(bootstrap_servers, "k1:9092, k2:9093");
    assert_eq!(append_timeout, Duration::from_secs(5));
    assert_eq!(max_in_flight_bytes, 8 << 20);
    assert_eq!(properties["security.protocol"], "SASL_SSL");
}

#[test]
fn unknown_keys_name_the_key_and_the_allowed_ones() {
    let err = parse_toml("lisen = \"0.0.0.0:1\"").unwrap_err().to_string();
    assert!(err.contains("unknown key `lisen`"), "{err}");
    assert!(err.contains("listen"), "{err}");
    let err = parse_toml("[eventlog]\nfsink = \"never\"")
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("`eventlog.fsink`") && err.contains("unknown key `fsink`"),
        "{err}"
    );
    assert!(err.contains("fsync"), "{err}");
}

#[test]
fn bad_values_name_the_key_and_what_is_allowed() {
    let cases = [
        ("listen = \"localhost\"", "`listen`", "IP:PORT"),
        (
            "database_url = \"mysql://x\"",
            "`database_url`",
            "postgres://",
        ),
        ("kafka = \"nohostport\"", "`kafka`", "HOST:PORT"),
        (
            "online_store = \"memcached://x\"",
            "`online_store`",
            "redis://",
        ),
        ("topic_prefix = \"a/b\"", "`topic_prefix`", "'/'"),
        ("log_format = \"xml\"", "`log_format`", "`json`"),
        (
            "[eventlog]\nfsync = \"sometimes\"",
            "`eventlog.fsync`",
            "`always`",
        ),
        (
            "[eventlog]\ndefault_partitions = 0",
            "`eventlog.default_partitions`",
            "1 to 1024",
        ),
        (
            "[eventlog]\ndefault_retention = \"forever\"",
            "`eventlog.default_retention`",
            "duration",
        ),
        (
            "[eventlog]\nsegment_size = \"12 parsecs\"",
            "`eventlog.segment_size`",
            "size",
        ),
        (
            "[server]\nshutdown_timeout = \"0s\"",
            "`server.shutdown_timeout`",
            "greater than zero",
        ),
        (
            "kafka = \"k:1\"\n[kafka_client]\nproperties = { acks = \"1\" }",
            "acks",
            "durable",
        ),
        (
            "kafka = \"k:1\"\n[kafka_client]\nreplication_factor = 0",
            "replication_factor",
            "at least 1",
        ),
    ];
    for (toml, key, allowed) in cases {
        let err = parse_toml(toml).unwrap_err().to_string();
        assert!(
            err.contains(key) && err.contains(allowed),
            "{toml:?} gave {err:?}"
        );
    }
}

#[test]
fn auth_off_is_loopback_only() {
    let config = parse_toml("[auth]\nmode = \"off\"").unwrap();
    assert_eq!(config.auth, tributary_core::AuthMode::Off);
    assert!(config.check_exposure().is_ok());
    let config = parse_toml("listen = \"[::1]:80\"").unwrap();
    assert!(config.check_exposure().is_ok());
    let err = parse_toml("listen = \"0.0.0.0:8080\"")
        .unwrap()
        .check_exposure()
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("auth off") && err.contains("loopback"),
        "{err}"
    );
    assert!(!err.contains('\n'), "{err}");
    let err = parse_toml("[auth]\nmode = \"oauth\"")
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("`auth.mode`") && err.contains("`off`") && err.contains("`keys`"),
        "{err}"
    );
}

#[test]
fn auth_keys_needs_a_long_admin_key_and_may_listen_anywhere() {
    let err = parse_toml("[auth]\nmode = \"keys\"")
        .unwrap_err()
        .to_string();
    assert!(err.contains("TRIBUTARY_AUTH__ADMIN_KEY"), "{err}");
    let err = parse_toml("[auth]\nmode = \"keys\"\nadmin_key = \"short\"")
        .unwrap_err()
        .to_string();
    assert!(err.contains("at least 32"), "{err}");
    let key = "k".repeat(40);
    let config = parse_toml(&format!(
        "listen = \"0.0.0.0:8080\"\n[auth]\nmode = \"keys\"\nadmin_key = \"{key}\""
    ))
    .unwrap();
    assert_eq!(config.auth, tributary_core::AuthMode::Keys);
    assert!(config.check_exposure().is_ok());
    assert!(
        !format!("{config:?}").contains(&key),
        "the key is never shown"
    );
}

#[test]
fn toml_syntax_errors_are_one_line() {
    let err = parse_toml("not toml [").unwrap_err().to_string();
    assert!(!err.contains('\n'), "{err}");
    assert!(err.contains("line 1"), "{err}");
}

#[test]
fn wrong_types_name_the_key() {
    let err = parse_toml("[eventlog]\ndefault_partitions = \"three\"")
        .unwrap_err()
        .to_string();
    assert!(err.contains("eventlog.default_partitions"), "{err}");
}

#[test]
fn passwords_never_appear_in_errors() {
    let err = parse_toml("database_url = \"mongodb://u:hunter2@h/d\"")
        .unwrap_err()
        .to_string();
    assert!(!err.contains("hunter2"), "{err}");
}

#[test]
fn sizes_parse() {
    assert_eq!(parse_size("4096"), Some(4096));
    assert_eq!(parse_size("64MiB"), Some(64 << 20));
    assert_eq!(parse_size("1 GiB"), Some(1 << 30));
    assert_eq!(parse_size("2MB"), Some(2_000_000));
    assert_eq!(parse_size("0"), None);
    assert_eq!(parse_size("-1"), None);
    assert_eq!(parse_size("1PiB"), None);
    assert_eq!(parse_size("99999999999999999999GiB"), None);
}

#[test]
fn flags_override_the_file() {
    let flags = Settings {
        listen: Some("127.0.0.1:9999".into()),
        ..Settings::default()
    };
    let file: Settings = Figment::new()
        .merge(Toml::string(
            "listen = \"127.0.0.1:1111\"\ndata_dir = \"/srv/t\"",
        ))
        .merge(Serialized::defaults(&flags))
        .extract()
        .unwrap();
    let config = Config::from_layers(&file).unwrap();
    assert_eq!(config.listen.port(), 9999);
    assert_eq!(config.data_dir, PathBuf::from("/srv/t"));
}

#[test]
fn producer_rate_limits_are_validated() {
    let config = parse_toml("[gateway]\nproducer_rate_limit = 50.0").unwrap();
    let rate = config.gateway.producer_rate.unwrap();
    assert_eq!((rate.events_per_second, rate.burst), (50.0, 500.0));
    assert_eq!(parse_toml("").unwrap().gateway.producer_rate, None);
    let err = parse_toml("[gateway]\nproducer_rate_limit = 0.0")
        .unwrap_err()
        .to_string();
    assert!(err.contains("gateway.producer_rate_limit"), "{err}");
    let err = parse_toml("[gateway]\nproducer_burst = 5.0")
        .unwrap_err()
        .to_string();
    assert!(err.contains("needs `gateway.producer_rate_limit`"), "{err}");
}

#[test]
fn gateway_limits_default_and_parse() {
    let defaults = tributary_gateway::GatewayLimits::default();
    let config = parse_toml("").unwrap();
    assert_eq!(config.gateway.max_body_bytes, defaults.max_body_bytes);
    assert_eq!(
        config.gateway.idempotency_window,
        defaults.idempotency_window
    );

    let config = parse_toml(
        "[gateway]\nmax_request_size = \"2MiB\"\nmax_event_size = \"4KiB\"\n\
         max_events_per_request = 50\nmax_in_flight = \"32MiB\"\nrequest_timeout = \"2s\"\n\
         metadata_ttl = \"250ms\"\nidempotency_window = \"off\"\nidempotency_max_entries = 7",
    )
    .unwrap();
    let g = &config.gateway;
    assert_eq!(g.max_body_bytes, 2 << 20);
    assert_eq!(g.max_event_bytes, 4 << 10);
    assert_eq!(g.max_events_per_request, 50);
    assert_eq!(g.max_in_flight_bytes, 32 << 20);
    assert_eq!(g.request_timeout, std::time::Duration::from_secs(2));
    assert_eq!(g.metadata_ttl, std::time::Duration::from_millis(250));
    assert!(g.idempotency_window.is_zero());
    assert_eq!(g.idempotency_max_entries, 7);
    assert_eq!(g.max_decompressed_bytes, defaults.max_decompressed_bytes);

    for (toml, key) in [
        ("max_request_size = \"ten\"", "gateway.max_request_size"),
        (
            "max_events_per_request = 0",
            "gateway.max_events_per_request",
        ),
        ("request_timeout = \"0s\"", "gateway.request_timeout"),
        (
            "idempotency_window = \"soon\"",
            "gateway.idempotency_window",
        ),
    ] {
        let err = parse_toml(&format!("[gateway]\n{toml}"))
            .unwrap_err()
            .to_string();
        assert!(err.contains(key), "{toml}: {err}");
    }
}

#[test]
fn kafka_linger_is_a_short_duration() {
    let linger = |toml: &str| match parse_toml(toml).unwrap().event_log {
        EventLogConfig::Kafka { linger, .. } => linger,
        other => panic!("not kafka: {other:?}"),
    };
    let kafka = "kafka = \"127.0.0.1:9092\"\n";
    assert_eq!(linger(kafka), std::time::Duration::from_millis(1));
    assert_eq!(
        linger(&format!("{kafka}[kafka_client]\nlinger = \"0ms\"")),
        std::time::Duration::ZERO
    );
    let err = parse_toml(&format!("{kafka}[kafka_client]\nlinger = \"2s\""))
        .unwrap_err()
        .to_string();
    assert!(err.contains("kafka_client.linger"), "{err}");
}

#[test]
fn kafka_producer_is_auto_unless_one_is_named() {
    use tributary_eventlog::ProducerKind;
    let producer = |toml: &str| match parse_toml(toml).unwrap().event_log {
        EventLogConfig::Kafka { producer, .. } => producer,
        other => panic!("not kafka: {other:?}"),
    };
    let kafka = "kafka = \"127.0.0.1:9092\"\n";
    assert_eq!(producer(kafka), ProducerKind::Auto);
    assert_eq!(
        producer(&format!("{kafka}[kafka_client]\nproducer = \"librdkafka\"")),
        ProducerKind::Librdkafka
    );
    assert_eq!(
        producer(&format!("{kafka}[kafka_client]\nproducer = \"native\"")),
        ProducerKind::Native
    );
    let err = parse_toml(&format!("{kafka}[kafka_client]\nproducer = \"java\""))
        .unwrap_err()
        .to_string();
    assert!(err.contains("kafka_client.producer"), "{err}");
    assert!(err.contains("native"), "{err}");
}

#[test]
fn quality_settings_default_parse_and_are_checked() {
    let defaults = parse_toml("").unwrap().quality;
    assert!(defaults.scoring);
    assert_eq!(defaults.flush_interval, std::time::Duration::from_secs(10));
    assert_eq!(
        defaults.rollup_after,
        std::time::Duration::from_secs(48 * 3600)
    );
    assert_eq!(defaults.webhook_attempts, 5);

    let set = parse_toml(
        "[quality]\nscoring = false\nflush_interval = \"200ms\"\nretention = \"30d\"\nwebhook_attempts = 2\n",
    )
    .unwrap()
    .quality;
    assert!(!set.scoring);
    assert_eq!(set.flush_interval, std::time::Duration::from_millis(200));
    assert_eq!(set.retention, std::time::Duration::from_secs(30 * 86_400));
    assert_eq!(set.webhook_attempts, 2);

    for (toml, key) in [
        (
            "[quality]\nflush_interval = \"soon\"",
            "quality.flush_interval",
        ),
        (
            "[quality]\nwebhook_attempts = 0",
            "quality.webhook_attempts",
        ),
        ("[quality]\nretention = \"1h\"", "quality.retention"),
        ("[quality]\nscoring = \"maybe\"", "quality.scoring"),
    ] {
        let err = parse_toml(toml).unwrap_err().to_string();
        assert!(err.contains(key), "{toml}: {err}");
    }
}
