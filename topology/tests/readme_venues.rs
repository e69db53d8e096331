//! The README's venue table and command synopsis come from the venue registry: this fails when
//! README.md drifts (the message prints the table to paste between the markers).

use tickflow_connectors::venues::{capability_table, ids, Operation};

fn readme() -> String {
    std::fs::read_to_string(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../README.md")).unwrap()
}

#[test]
fn the_venue_table_is_the_registry() {
    let text = readme();
    let (begin, end) = ("<!-- venues:begin -->\n", "<!-- venues:end -->");
    let start = text.find(begin).expect("README.md: <!-- venues:begin --> marker") + begin.len();
    let stop = text[start..].find(end).expect("README.md: <!-- venues:end --> marker") + start;
    let want = capability_table();
    assert_eq!(&text[start..stop], want, "README.md's venue table drifted from the registry; paste between the markers:\n{want}");
}

#[test]
fn the_synopsis_lists_no_venues_by_hand() {
    let text = readme();
    // the synopsis: the first code block of "## Command line"
    let section = &text[text.find("## Command line").expect("README.md: ## Command line")..];
    let block = &section[section.find("```sh\n").expect("a ```sh block")..];
    let block = &block[..block[6..].find("```").expect("the block's end") + 6];
    assert!(block.contains("tickflow fetch trades"), "{block}");
    for line in block.lines().filter(|l| l.starts_with("tickflow ") && l.contains("--source")) {
        let arg = line.split("--source ").nth(1).and_then(|r| r.split_whitespace().next()).unwrap_or("");
        assert!(arg == "VENUE" || arg == "VENUE|ccxt:<id>", "README synopsis `{line}`: write --source VENUE (the venue table lists them)");
    }
    // every command's venues are in the table, and the table names each once
    for op in Operation::ALL {
        for id in ids(op) {
            assert!(text.contains(&format!("| `{id}` |")), "{id} ({}) is missing from the README's venue table", op.command());
        }
    }
}

/// #15: the README's market-id table is what the venue code sends: every backticked id in a
/// venue's column equals that venue's `market_id` of the row's symbol (and the live protocol's).
#[test]
fn the_market_id_table_is_what_the_venues_send() {
    let text = readme();
    let (begin, end) = ("<!-- market-ids:begin -->\n", "<!-- market-ids:end -->");
    let start = text.find(begin).expect("README.md: <!-- market-ids:begin --> marker") + begin.len();
    let table = &text[start..text[start..].find(end).expect("the end marker") + start];
    let mut rows = table.lines();
    let header: Vec<&str> = rows.next().unwrap().split('|').map(str::trim).collect();
    let tick = |cell: &str| cell.split('`').nth(1).map(str::to_string);
    let mut checked = 0;
    for row in rows.skip(1) {
        let cells: Vec<&str> = row.split('|').map(str::trim).collect();
        let symbol = tick(cells[2]).expect("a symbol");
        for (col, cell) in cells.iter().enumerate().skip(3).filter(|(_, c)| **c != "—" && !c.is_empty()) {
            let venue_id = tick(header[col]).expect("a venue column");
            let venue = tickflow_connectors::venues::get(&venue_id).unwrap_or_else(|| panic!("{venue_id} is registered"));
            let id = tick(cell).unwrap();
            assert_eq!(venue.market_id(&symbol), id, "{venue_id} {symbol}");
            if let Some(live) = venue.live() {
                assert_eq!(live.market_id(&symbol, &venue_id), id, "{venue_id} {symbol} (live)");
            }
            checked += 1;
        }
    }
    assert_eq!(checked, 20, "every cell of the table");
}
