//! The README's indicator table is generated from the registry: this test fails when it drifts.
//! `TICKFLOW_BLESS=1 cargo test -p tickflow-operators --test readme_indicators` rewrites it.

use tickflow_operators::indicators::{markdown_table, names};

const BEGIN: &str = "<!-- indicators:begin -->\n";
const END: &str = "<!-- indicators:end -->";

#[test]
fn readme_indicator_table_is_generated_from_the_registry() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../README.md");
    let text = std::fs::read_to_string(&path).unwrap();
    let a = text.find(BEGIN).expect("README has no indicators:begin marker") + BEGIN.len();
    let b = a + text[a..].find(END).expect("README has no indicators:end marker after the begin marker");
    let want = markdown_table();
    if text[a..b] != want {
        if std::env::var_os("TICKFLOW_BLESS").is_some() {
            std::fs::write(&path, format!("{}{want}{}", &text[..a], &text[b..])).unwrap();
            return;
        }
        panic!(
            "README.md's indicator table differs from the registry; run\n  TICKFLOW_BLESS=1 cargo test -p tickflow-operators --test readme_indicators\n--- README\n{}--- registry\n{want}",
            &text[a..b]
        );
    }
    // every registered name has a row
    for n in names() {
        assert!(text[a..b].contains(&format!("| `{n}` |")), "{n}");
    }
}
