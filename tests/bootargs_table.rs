//! The bootargs key table (`boot::bootargs::KEYS`) is the one place a key and its default are
//! written: `Config::default` must show exactly the table's defaults, the module documentation
//! must be the table rendered, and README.md's table must name the same keys with the same
//! defaults.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;

use bareserve::boot::bootargs::{self, Config, KEYS, documentation_table};

/// The source of the bootargs module and README.md, read at test time.
fn repository_file(path: &str) -> String {
    let full = format!("{}/{path}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&full).unwrap_or_else(|error| panic!("{full}: {error}"))
}

/// The rows of the first Markdown table with the header `| key | values | default |` in
/// `lines`, as cell lists (the separator row left out).
fn table_rows<'a>(lines: impl Iterator<Item = &'a str>) -> Vec<Vec<String>> {
    let mut rows = Vec::new();
    let mut inside = false;
    for line in lines {
        let line = line.trim();
        if !inside {
            inside = line == "| key | values | default |";
            continue;
        }
        if !line.starts_with('|') {
            break;
        }
        if line.starts_with("|---") {
            continue;
        }
        let cells = line
            .trim_matches('|')
            .split(" | ")
            .map(|cell| cell.trim().to_string())
            .collect();
        rows.push(cells);
    }
    rows
}

/// A cell without its code-span backticks.
fn plain(cell: &str) -> String {
    cell.replace('`', "").trim().to_string()
}

#[test]
fn config_default_shows_the_table_defaults() {
    let defaults = Config::default();
    for key in KEYS {
        assert_eq!(key.show(&defaults), key.default, "default of {}", key.name);
    }
}

#[test]
fn the_table_defaults_parse_back_to_the_defaults() {
    // Every default that is also an accepted value (all but `mac` and `test`, whose "none" is
    // only their unset state) sets the field to its default, quietly.
    for key in KEYS
        .iter()
        .filter(|key| !matches!(key.name, "mac" | "test"))
    {
        let (config, messages) = bootargs::parse(&format!("{}={}", key.name, key.default));
        assert_eq!(messages, vec![], "{}", key.name);
        assert_eq!(config, Config::default(), "{}", key.name);
    }
}

#[test]
fn key_names_are_unique() {
    let mut names: Vec<&str> = KEYS.iter().map(|key| key.name).collect();
    names.sort_unstable();
    names.dedup();
    assert_eq!(names.len(), KEYS.len());
}

#[test]
fn module_documentation_is_the_table() {
    let source = repository_file("src/boot/bootargs/mod.rs");
    let documentation: Vec<&str> = source
        .lines()
        .filter_map(|line| line.strip_prefix("//!"))
        .map(|line| line.strip_prefix(' ').unwrap_or(line))
        .collect();
    let start = documentation
        .iter()
        .position(|line| *line == "| key | values | default |")
        .expect("the module documentation has the key table");
    let written: String = documentation[start..]
        .iter()
        .take_while(|line| line.starts_with('|'))
        .map(|line| format!("{line}\n"))
        .collect();
    assert_eq!(
        written,
        documentation_table(),
        "the table in src/boot/bootargs/mod.rs's module documentation differs from KEYS; it should \
         read:\n{}",
        documentation_table()
    );
}

/// README.md's table may join keys that share a line (`ip6` / `gw6`), with one default for all
/// of them or one each (`10.0.2.15/24` / `10.0.2.2`); this checks the set of keys and each
/// key's default, not the values column (README's words are for users).
#[test]
fn readme_table_has_every_key_with_its_default() {
    let readme = repository_file("README.md");
    let rows = table_rows(readme.lines());
    assert!(
        !rows.is_empty(),
        "README.md has no `| key | values | default |` table"
    );
    let mut readme_defaults: BTreeMap<String, String> = BTreeMap::new();
    for row in &rows {
        assert_eq!(row.len(), 3, "README row {row:?}");
        let keys: Vec<String> = row[0].split(" / ").map(plain).collect();
        let defaults: Vec<String> = row[2].split(" / ").map(plain).collect();
        assert!(
            defaults.len() == 1 || defaults.len() == keys.len(),
            "README row {row:?}: one default, or one per key"
        );
        for (index, key) in keys.iter().enumerate() {
            let default = defaults.get(index).unwrap_or(&defaults[0]).clone();
            let previous = readme_defaults.insert(key.clone(), default);
            assert!(previous.is_none(), "README names {key} twice");
        }
    }
    let table_defaults: BTreeMap<String, String> = KEYS
        .iter()
        .map(|key| (key.name.to_string(), key.default.to_string()))
        .collect();
    for (key, default) in &table_defaults {
        match readme_defaults.get(key) {
            None => panic!("README.md's bootargs table lacks {key}"),
            Some(readme_default) => assert_eq!(readme_default, default, "README default of {key}"),
        }
    }
    for key in readme_defaults.keys() {
        assert!(
            table_defaults.contains_key(key),
            "README.md's bootargs table has {key}, which boot::bootargs::KEYS does not know"
        );
    }
}
