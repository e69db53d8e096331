//! The README's strategy table is the registry's: this fails when they drift.
//! `TICKFLOW_BLESS=1 cargo test -p tickflow --test readme_strategies` rewrites the table.

#[test]
fn readme_strategy_table_matches_the_registry() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../README.md");
    let readme = std::fs::read_to_string(&path).unwrap();
    let (begin, end) = ("<!-- strategies:begin -->\n", "<!-- strategies:end -->");
    let a = readme.find(begin).expect("README has the strategies:begin marker") + begin.len();
    let b = readme[a..].find(end).expect("README has the strategies:end marker") + a;
    let table = tickflow_strategies::markdown_table();
    if std::env::var_os("TICKFLOW_BLESS").is_some() {
        std::fs::write(&path, format!("{}{}{}", &readme[..a], table, &readme[b..])).unwrap();
        return;
    }
    assert_eq!(&readme[a..b], table, "README strategy table drifted from the registry: rerun with TICKFLOW_BLESS=1");
    for r in tickflow_strategies::REGISTRY {
        assert!(table.contains(&format!("`{}`", r.name)));
        // every registered strategy builds with its defaults
        tickflow_strategies::build(r.name, &Default::default()).unwrap();
    }
}
