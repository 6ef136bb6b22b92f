//! The strict `babel.yaml` / `protocols.yaml` models: parsing, errors, validation, merging.

use std::collections::BTreeMap;

use babel_manifest::babel_yaml::{
    ExpandedUiType, Image, Pointer, UiType, VariantError, Visibility, archive_combinations,
    expand_properties, parse_props,
};

const FULL: &str = r#"
version: 0.1.0
container_uri: docker-daemon://test-image:latest
sku_code: TST-IMG-X
protocol_key: testing
org_id: null
dns_scheme: https
description: test image
visibility: development
firewall_config: &default-fw
  default_in: deny
  default_out: allow
  rules:
    - &p2p
      key: p2p
      description: peers
      protocol: both
      direction: in
      action: allow
      ips:
        - ip: 0.0.0.0/0
          name: anyone
      ports:
        - port: 30303
          name: p2p
properties:
  - key: text-prop
    name: Text
    description: a text
    dynamic_value: true
    default_value: abc
    ui_type: !text
  - key: secret
    name: Secret
    dynamic_value: false
    default_value: ""
    ui_type: !password null
  - key: archive
    name: Archive mode
    dynamic_value: false
    default_value: "off"
    ui_type: !switch
      on:
        new_archive: true
        add_disk_gb: 100
      off: null
  - key: network
    name: Network
    default_value: main
    ui_type: !enum
      - value: main
        name: Main net
        impact: null
      - value: test
        name: Test net
        impact:
          new_archive: true
          add_cpu: 1
          add_memory_mb: 512
variants:
  - key: client-net-full
    metadata:
      - key: client
        value: custom-client
        description: overridden
    sku_code: TST-CL-F
    archive_pointers:
      - pointer: !store_key default-archive
      - pointer: !store_key archive-on
        new_archive_properties: [archive-on]
      - pointer: !store_key testnet
        new_archive_properties: [network-test]
      - pointer: !combination_disallowed
        new_archive_properties: [archive-on, network-test]
    min_cpu: 1
    min_memory_mb: 1000
    min_disk_gb: 2
    ramdisks:
      - mount: /mnt/ramdisk
        size_mb: 100
  - key: other-net-light
    description: light variant
    visibility: private
    dns_scheme: wss
    firewall_config:
      default_in: allow
      default_out: allow
      rules:
        - *p2p
    properties: []
    archive_pointers:
      - pointer: !store_id legacy-key
    min_cpu: 2
    min_memory_mb: 2000
    min_disk_gb: 3
"#;

fn full() -> Image {
    Image::from_yaml_str(FULL).expect("full example parses")
}

#[test]
fn full_example_parses_every_field_and_tag() {
    let image = full();
    assert_eq!(image.sku_code.as_deref(), Some("TST-IMG-X"));
    assert_eq!(image.properties.len(), 4);
    assert_eq!(image.properties[0].ui_type, UiType::Text(None));
    assert_eq!(image.properties[1].ui_type, UiType::Password(None));
    let UiType::Switch(s) = &image.properties[2].ui_type else {
        panic!("switch expected")
    };
    assert!(
        s.on.as_ref()
            .is_some_and(|i| i.new_archive && i.add_disk_gb == Some(100))
    );
    assert!(s.off.is_none());
    let UiType::Enum(opts) = &image.properties[3].ui_type else {
        panic!("enum expected")
    };
    assert_eq!(
        opts[1].impact.as_ref().and_then(|i| i.add_memory_mb),
        Some(512)
    );
    let v0 = &image.variants[0];
    assert_eq!(
        v0.archive_pointers[3].pointer,
        Pointer::CombinationDisallowed
    );
    assert_eq!(
        image.variants[1].archive_pointers[0].pointer,
        Pointer::StoreKey("legacy-key".into())
    );
    // the alias reuses the anchored rule
    assert_eq!(
        image.variants[1].firewall_config.as_ref().map(|f| &f.rules),
        Some(&image.firewall_config.rules)
    );
    let v = image.validate();
    assert!(v.is_ok(), "{:?}", v.errors);
}

#[test]
fn variant_merge_and_metadata_autofill() {
    let image = full();
    assert!(
        image
            .pick_variant(None)
            .unwrap_err()
            .to_string()
            .contains("multiple variants")
    );
    assert_eq!(
        image.pick_variant(Some("nope")).unwrap_err().to_string(),
        "variant 'nope' not found"
    );
    let v = image.pick_variant(Some("client-net-full")).unwrap();
    assert_eq!(v.sku_code.as_deref(), Some("TST-CL-F"));
    assert_eq!(v.dns_scheme.as_deref(), Some("https"));
    assert_eq!(v.properties.len(), 4);
    let meta: BTreeMap<_, _> = v
        .metadata
        .iter()
        .map(|m| (m.key.as_str(), m.value.as_str()))
        .collect();
    assert_eq!(meta["client"], "custom-client");
    assert_eq!(meta["network"], "net");
    assert_eq!(meta["node-type"], "full");
    let o = image.pick_variant(Some("other-net-light")).unwrap();
    assert_eq!(o.sku_code.as_deref(), Some("TST-IMG-X"));
    assert_eq!(o.visibility, Visibility::Private);
    assert_eq!(o.description.as_deref(), Some("light variant"));
    assert_eq!(o.dns_scheme.as_deref(), Some("wss"));
    assert!(o.properties.is_empty());
    assert_eq!(
        o.firewall_config.default_in,
        babel_manifest::babel_yaml::Action::Allow
    );
}

#[test]
fn unknown_field_is_rejected_with_line_and_path() {
    let text = FULL.replace("        add_disk_gb: 100", "        add_disk_bg: 100");
    let err = Image::from_yaml_str(&text).unwrap_err();
    assert_eq!(err.field, "properties[2].ui_type.switch.on.add_disk_bg");
    assert!(
        err.message.contains("unknown field `add_disk_bg`"),
        "{}",
        err.message
    );
    let line = text
        .lines()
        .position(|l| l.contains("add_disk_bg"))
        .unwrap()
        + 1;
    assert_eq!(err.line, Some(line));
}

#[test]
fn wrong_tag_is_rejected() {
    let text = FULL.replace("ui_type: !text\n", "ui_type: !txt\n");
    let err = Image::from_yaml_str(&text).unwrap_err();
    assert!(err.field.starts_with("properties[0]"), "{err}");
    assert!(err.message.contains("txt"), "{err}");
}

#[test]
fn merge_keys_are_applied_and_stay_strict() {
    let base = r#"
version: 1.0.0
container_uri: docker://repo/img:1
protocol_key: testing
visibility: public
firewall_config: {default_in: deny, default_out: allow, rules: []}
properties: []
variants:
  - &base
    key: a-b-c
    sku_code: AAA-BB-C
    archive_pointers: [{pointer: !store_key k}]
    min_cpu: 1
    min_memory_mb: 100
    min_disk_gb: 1
  - <<: *base
    key: a-b-d
"#;
    let image = Image::from_yaml_str(base).expect("merge keys");
    assert_eq!(image.variants[1].key, "a-b-d");
    assert_eq!(image.variants[1].min_cpu, 1);
    let bad = base.replace("    key: a-b-d", "    key: a-b-d\n    min_cpus: 3");
    let err = Image::from_yaml_str(&bad).unwrap_err();
    assert!(err.message.contains("min_cpus"), "{err}");
    assert_eq!(err.field, "variants[1].min_cpus");
    let line = bad.lines().position(|l| l.contains("min_cpus")).unwrap() + 1;
    assert_eq!(err.line, Some(line), "{err}");
    assert!(err.line.is_some(), "{err}");
}

#[test]
fn validation_reports_every_issue_with_lines() {
    let text = FULL
        .replace("sku_code: TST-CL-F", "sku_code: TST--F")
        .replace("version: 0.1.0", "version: one")
        .replace("ip: 0.0.0.0/0", "ip: 300.0.0.1/8")
        .replace("key: text-prop", "key: ''")
        .replace("      - value: test\n", "      - value: Test\n")
        .replace(
            "      - pointer: !store_key testnet\n        new_archive_properties: [network-test]\n",
            "",
        );
    let image = Image::from_yaml_str(&text).unwrap();
    let mut v = image.validate();
    v.locate(&text);
    let fields: Vec<&str> = v.errors.iter().map(|i| i.field.as_str()).collect();
    for want in [
        "version",
        "variants[0].sku_code",
        "firewall_config.rules[0].ips[0].ip",
        "properties[0].key",
        "properties[3].ui_type[1].value",
        "variants[0].archive_pointers",
    ] {
        assert!(fields.contains(&want), "missing {want} in {fields:?}");
    }
    let sku = v
        .errors
        .iter()
        .find(|i| i.field == "variants[0].sku_code")
        .unwrap();
    let line = text.lines().position(|l| l.contains("TST--F")).unwrap() + 1;
    assert_eq!(sku.line, Some(line));
    assert!(v.errors.iter().all(|i| i.line.is_some()), "{:?}", v.errors);
    // the archive pointer names the removed value with a now-invalid key
    assert!(
        v.errors.iter().any(|i| i.message.contains("network=Test")),
        "{:?}",
        v.errors
    );
}

#[test]
fn kebab_and_sku_rules() {
    use babel_manifest::babel_yaml::validate::{
        check_cidr, check_container_uri, check_kebab_case, check_sku,
    };
    assert!(check_kebab_case("").is_err());
    assert!(check_kebab_case("a--b").is_err());
    assert!(check_kebab_case("-a").is_err());
    assert!(check_kebab_case("Abc").is_err());
    assert!(check_kebab_case("abc-1-x").is_ok());
    assert!(check_sku("A--B").is_err());
    assert!(check_sku("AB-CD").is_err());
    assert!(check_sku("ab-CD-E").is_err());
    assert!(check_sku("ETH-ERG-SF").is_ok());
    assert!(check_cidr("10.0.0.0/8"));
    assert!(check_cidr("::1"));
    assert!(!check_cidr("10.0.0.0/33"));
    assert!(check_container_uri("docker-daemon://ethereum-reth:latest").is_ok());
    assert!(check_container_uri("oci:/tmp/layout:tag").is_ok());
    assert!(check_container_uri("docker://").is_err());
    assert!(check_container_uri("http://x").is_err());
}

#[test]
fn archive_combinations_cover_every_property_value() {
    let image = full();
    let combos = archive_combinations(&image.properties).unwrap();
    assert_eq!(combos.len(), 4);
    let v = image.pick_variant(Some("client-net-full")).unwrap();
    let defaults = v.node_properties(&BTreeMap::new()).unwrap();
    assert_eq!(
        v.archive_pointer(&defaults),
        Some(&Pointer::StoreKey("default-archive".into()))
    );
    let props = parse_props(r#"{"archive": "on"}"#).unwrap();
    let values = v.node_properties(&props).unwrap();
    assert_eq!(values["archive"], "on");
    assert_eq!(values["text-prop"], "abc");
    assert_eq!(
        v.archive_pointer(&values),
        Some(&Pointer::StoreKey("archive-on".into()))
    );
    let both = parse_props("archive: on\nnetwork: test").unwrap();
    assert!(
        v.node_properties(&both)
            .unwrap_err()
            .to_string()
            .contains("disallowed")
    );
    let unknown = parse_props("nope: 1").unwrap();
    assert!(
        v.node_properties(&unknown)
            .unwrap_err()
            .to_string()
            .contains("'nope' is not defined")
    );
    let bad = parse_props("network: moon").unwrap();
    assert!(
        v.node_properties(&bad)
            .unwrap_err()
            .to_string()
            .contains("main, test")
    );
    assert!(parse_props("[1, 2]").is_err());
}

#[test]
fn property_expansion() {
    let image = full();
    let e = expand_properties(&image.properties);
    let keys: Vec<&str> = e.iter().map(|p| p.key.as_str()).collect();
    assert_eq!(
        keys,
        [
            "archive-off",
            "archive-on",
            "network-main",
            "network-test",
            "secret",
            "text-prop"
        ]
    );
    let on = &e[1];
    assert_eq!(on.key_group.as_deref(), Some("archive"));
    assert_eq!(on.is_group_default, Some(false));
    assert_eq!(on.add_disk_bytes, 100_000_000_000);
    assert!(on.new_archive);
    assert_eq!(e[0].is_group_default, Some(true));
    assert_eq!(e[3].add_memory_bytes, 512_000_000);
    assert_eq!(e[3].display_name, "Test net");
    assert_eq!(e[4].ui_type, ExpandedUiType::Password);
}

#[test]
fn dev_node_spec_from_variant() {
    use babel_api::pb::blockvisor::v1 as pb;
    use babel_manifest::babel_yaml::DevNodeOptions;
    let image = full();
    let v = image.pick_variant(Some("client-net-full")).unwrap();
    let props = v.node_properties(&BTreeMap::new()).unwrap();
    let spec = v.dev_node_spec(
        props,
        &DevNodeOptions {
            tags: vec!["t1".into()],
            min_babel_version: "0.1.0".into(),
            ..Default::default()
        },
    );
    assert!(spec.dev_mode);
    assert_eq!(
        spec.image_key.as_ref().unwrap().variant_key,
        "client-net-full"
    );
    let img = spec.image.unwrap();
    assert_eq!(img.uri, "docker-daemon://test-image:latest");
    assert_eq!(img.id, "dev-node-image-id-0.1.0");
    let vm = spec.vm_config.unwrap();
    assert_eq!(
        (vm.vcpu_count, vm.mem_size_mb, vm.disk_size_gb),
        (1, 1000, 2)
    );
    assert_eq!(vm.ramdisks[0].mount, "/mnt/ramdisk");
    let fw = spec.firewall.unwrap();
    assert_eq!(fw.default_in, pb::FirewallAction::Deny as i32);
    assert_eq!(fw.rules[0].protocol, pb::FirewallProtocol::Both as i32);
    assert_eq!(fw.rules[0].ports, vec![30303]);
    assert_eq!(spec.properties["archive"], "off");
    assert_eq!(spec.tags, vec!["t1"]);
}

#[test]
fn load_file_errors_name_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("babel.yaml");
    std::fs::write(&path, FULL.replace("sku_code: TST-CL-F", "sku_code: A--B")).unwrap();
    let err = Image::load_validated(&path).unwrap_err().to_string();
    assert!(err.contains("babel.yaml:"), "{err}");
    assert!(err.contains("variants[0].sku_code"), "{err}");
    std::fs::write(&path, "version: [").unwrap();
    let err = Image::load(&path).unwrap_err().to_string();
    assert!(err.contains("babel.yaml:"), "{err}");
    let missing = Image::load(&dir.path().join("none.yaml"))
        .unwrap_err()
        .to_string();
    assert!(missing.contains("none.yaml"), "{missing}");
}

#[test]
fn protocols_yaml() {
    use babel_manifest::protocols_yaml;
    let text = "- key: testing\n  name: Testing\n  org_id: null\n  ticker: TST\n  description: d\n  visibility: public\n- key: Bad_Key\n  name: ''\n  visibility: private\n";
    let list = protocols_yaml::from_yaml_str(text).unwrap();
    assert_eq!(list[0].ticker.as_deref(), Some("TST"));
    let mut v = protocols_yaml::validate(&list);
    v.locate(text);
    let fields: Vec<&str> = v.errors.iter().map(|i| i.field.as_str()).collect();
    assert_eq!(fields, ["[1].key", "[1].name"]);
    assert_eq!(v.errors[0].line, Some(7));
    let err =
        protocols_yaml::from_yaml_str("- key: a\n  name: b\n  visibility: public\n  tickr: x\n")
            .unwrap_err();
    assert!(err.message.contains("tickr"), "{err}");
    assert_eq!(err.line, Some(4));
}

#[test]
fn older_format_loads_with_deprecation_warnings() {
    let text = FULL
        .replace(
            "      - pointer: !store_key default-archive\n",
            "      - pointer: !store_key default-archive\n        legacy_store_key: old-key\n",
        )
        .replace(
            "    default_value: abc\n",
            "    default_value: abc\n    required: true\n",
        );
    let image = Image::from_yaml_str(&text).unwrap();
    let mut v = image.validate();
    v.locate(&text);
    assert!(v.errors.is_empty(), "{:?}", v.errors);
    let warnings: Vec<String> = v.warnings.iter().map(ToString::to_string).collect();
    let legacy_line = text
        .lines()
        .position(|l| l.contains("legacy_store_key"))
        .unwrap()
        + 1;
    assert!(
        warnings
            .iter()
            .any(|w| w.starts_with(&format!("{legacy_line}:"))
                && w.contains("variants[0].archive_pointers[0].legacy_store_key")
                && w.contains("use `pointer: !store_key <key>`")),
        "{warnings:?}"
    );
    assert!(
        warnings
            .iter()
            .any(|w| w.contains("properties[0].required") && w.contains("default_value")),
        "{warnings:?}"
    );
    // A real typo stays an error, with a suggestion.
    let typo = FULL.replace("        add_disk_gb: 100", "        add_disk_bg: 100");
    let err = Image::from_yaml_str(&typo).unwrap_err();
    assert!(
        err.message.ends_with("(did you mean `add_disk_gb`?)"),
        "{}",
        err.message
    );
}

#[test]
fn enum_values_with_new_archive_count_like_switch_values() {
    // Without the pointer for the enum value `network=test`, validation names it.
    let text = FULL.replace(
        "      - pointer: !store_key testnet\n        new_archive_properties: [network-test]\n",
        "",
    );
    let image = Image::from_yaml_str(&text).unwrap();
    let v = image.validate();
    assert!(
        v.errors
            .iter()
            .any(|e| e.message.contains("network=test") && e.message.contains("network-test")),
        "{:?}",
        v.errors
    );
    // With it, the enum value is a valid new_archive_properties name.
    assert!(full().validate().errors.is_empty());
}

#[test]
fn an_empty_protocols_yaml_is_an_error() {
    use babel_manifest::protocols_yaml;
    let dir = tempfile::tempdir().unwrap();
    for text in ["", "[]\n", "# nothing yet\n"] {
        let path = dir.path().join("protocols.yaml");
        std::fs::write(&path, text).unwrap();
        let err = protocols_yaml::load_validated(&path)
            .expect_err(text)
            .to_string();
        assert!(err.contains("protocols.yaml"), "{text:?}: {err}");
    }
    let v = protocols_yaml::validate(&[]);
    assert_eq!(v.errors[0].field, "protocols");
}

#[test]
fn props_text_errors_say_what_is_wrong() {
    let message = |text: &str| parse_props(text).unwrap_err().to_string();
    assert!(message("{").starts_with("--props is not JSON/YAML: "));
    assert_eq!(
        message("[1, 2]"),
        "--props must be a mapping of property key to value"
    );
    assert_eq!(message("[1]: x"), "--props keys must be strings");
    assert_eq!(
        message("network: [a]"),
        "--props: value of 'network' must be a scalar"
    );
}

#[test]
fn variant_errors_name_the_variants() {
    let errors = [
        (VariantError::NotFound("x".into()), "variant 'x' not found"),
        (VariantError::NoVariants, "no image variant defined"),
        (
            VariantError::Ambiguous(vec!["a".into(), "b".into()]),
            "multiple variants found, please choose one with --variant: a, b",
        ),
    ];
    for (err, message) in errors {
        assert_eq!(err.to_string(), message);
    }
}

#[test]
fn check_errors_keep_their_messages() {
    use babel_manifest::babel_yaml::validate::{check_container_uri, check_kebab_case, check_sku};
    assert_eq!(
        check_kebab_case("").unwrap_err().to_string(),
        "must not be empty"
    );
    assert_eq!(
        check_kebab_case("Abc").unwrap_err().to_string(),
        "must be lower-kebab-case (only a-z, 0-9 and '-')"
    );
    assert_eq!(
        check_kebab_case("a--b").unwrap_err().to_string(),
        "must be lower-kebab-case (no leading, trailing or double '-')"
    );
    assert_eq!(
        check_sku("AB-CD").unwrap_err().to_string(),
        "invalid sku_code 'AB-CD': expected three non-empty sections of A-Z and 0-9 separated \
         by '-': <protocol>-<client>-<node type>, e.g. ETH-ERG-SF"
    );
    let uri_error = |uri: &str| check_container_uri(uri).unwrap_err().to_string();
    assert_eq!(
        uri_error("docker://a b"),
        "invalid container_uri 'docker://a b': contains whitespace"
    );
    assert_eq!(
        uri_error("http://x"),
        "invalid container_uri 'http://x': expected docker://<image>, \
         docker-daemon://<image> or oci:<dir>[:<tag>]"
    );
    assert_eq!(
        uri_error("docker://"),
        "invalid container_uri 'docker://': missing image reference"
    );
    assert_eq!(
        uri_error("docker://a*b"),
        "invalid container_uri 'docker://a*b': image reference contains invalid characters"
    );
}
