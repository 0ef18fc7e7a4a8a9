//! Shapes the real fixtures show only in passing: vmdesc arrays split into
//! several entries (one per element, runs of NULL pointers) are one JSON
//! field, and load back into their entries.

use serde_json::json;

use super::*;
use crate::dynamic::DescriptionArena;

fn state_of<'a>(arena: &'a DescriptionArena, entry: &Value, body: &[u8]) -> DynamicState<'a> {
    let d = arena.section(entry).unwrap();
    DynamicState::load_from_slice(d, body, d.version_id).unwrap()
}

#[test]
fn split_arrays_are_one_field() {
    let entry = json!({
        "name": "dev", "instance_id": 0, "vmsd_name": "dev", "version": 1,
        "fields": [
            {"name": "a", "type": "uint8", "size": 1},
            {"name": "s", "index": 0, "type": "struct", "size": 1,
             "struct": {"vmsd_name": "e", "version": 1, "fields": [{"name": "x", "type": "uint8", "size": 1}]}},
            {"name": "s", "type": "struct", "size": 1,
             "struct": {"vmsd_name": "e", "version": 1, "fields": [{"name": "x", "type": "uint8", "size": 1}]}},
            {"name": "p", "array_len": 2, "type": "nullptr", "size": 1},
            {"name": "p", "type": "uint16", "size": 2},
            {"name": "p", "type": "nullptr", "size": 1},
            {"name": "z", "type": "uint8", "size": 1},
        ],
    });
    let arena = DescriptionArena::new();
    let body = [1, 2, 3, 0x30, 0x30, 0, 9, 0x30, 4];
    let mut state = state_of(&arena, &entry, &body);
    let text = dynamic_to_json(&mut state).unwrap();
    let parsed: Value = serde_json::from_str(&text).unwrap();
    let fields = parsed["fields"].as_object().unwrap();
    assert_eq!(
        fields.keys().collect::<Vec<_>>(),
        ["a", "s", "p", "z"],
        "{text}"
    );
    assert_eq!(fields["s"]["value"].as_array().unwrap().len(), 2);
    assert_eq!(fields["s"]["value"][1]["fields"]["x"]["value"], 3);
    assert_eq!(fields["p"]["type"], "uint16");
    assert_eq!(fields["p"]["value"], json!([null, null, 9, null]));
    let d = state.description();
    let mut back = load_dynamic(d, &parsed).unwrap();
    assert_eq!(back, state);
    assert_eq!(crate::dynamic::save_to_vec(&mut back).unwrap(), body);
    // The run must keep its length.
    let mut short = parsed.clone();
    short["fields"]["p"]["value"] = json!([null, null, 9]);
    let err = load_dynamic(d, &short).unwrap_err().to_string();
    assert!(err.contains("only 3 element(s)"), "{err}");
    let mut long = parsed.clone();
    long["fields"]["p"]["value"] = json!([null, null, 9, null, null]);
    let err = load_dynamic(d, &long).unwrap_err().to_string();
    assert!(err.contains("5 element(s)"), "{err}");
    // A marker is null or true, an element its value.
    let mut wrong = parsed;
    wrong["fields"]["p"]["value"] = json!([null, 1, 9, null]);
    let err = load_dynamic(d, &wrong).unwrap_err().to_string();
    assert!(err.contains("null (a NULL pointer) or true"), "{err}");
}
