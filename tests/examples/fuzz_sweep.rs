//! The input-size sweep of the fuzz targets: every target's body
//! (`vmstate_tests::fuzz::Target`) on inputs of doubling size, timed, to show
//! that each grows linearly. `cargo run --release -p vmstate-tests --example
//! fuzz_sweep` prints a Markdown table (docs/fuzzing.md has one).

use std::time::Instant;

use vmstate_tests::fuzz::Target;
use vmstate_tests::hostile;

/// An input of about `n` units for `target`: a stream of `n` one-byte
/// fields (with their vmdesc), its BER or JSON document, or a pair of
/// `-dump-vmstate` files of `n / 50` sections.
fn input(target: Target, n: usize) -> Vec<u8> {
    let stream = hostile::stream(&[hostile::many_byte_fields(n)]);
    match target {
        Target::DumpCompat => {
            let sections: Vec<String> = (0..n / 50)
                .map(|i| {
                    format!(
                        "\"dev{i}\": {{\"Name\": \"dev{i}\", \"version_id\": 1, \
                         \"minimum_version_id\": 1, \"Fields\": [{{\"field\": \"a\", \
                         \"version_id\": 0, \"field_exists\": false, \"size\": 4}}]}}"
                    )
                })
                .collect();
            let one = format!(
                "{{\"vmschkmachine\": {{\"Name\": \"pc\"}}, {}}}",
                sections.join(", ")
            );
            let mut pair = one.clone().into_bytes();
            pair.push(0);
            pair.extend(one.into_bytes());
            pair
        }
        Target::Ber | Target::Json => {
            let arena = vmstate_core::dynamic::DescriptionArena::new();
            let Ok(Some(schema)) = vmstate_core::stream::StreamSchema::from_stream(&arena, &stream)
            else {
                return stream;
            };
            let json = qemufile::stream::find_vmdesc(&stream).map(|(_, j)| j);
            if target == Target::Ber {
                vmstate_core::ber::stream::to_ber(
                    qemufile::SliceReader::new(&stream),
                    &schema,
                    json,
                    Vec::new(),
                    vmstate_core::Limits::DEFAULT,
                    |_| {},
                )
                .unwrap_or(stream)
            } else {
                let Ok(mut dec) = vmstate_core::stream::StreamDecoder::open(
                    qemufile::SliceReader::new(&stream),
                    Some(&schema),
                ) else {
                    return stream;
                };
                let mut doc = Vec::new();
                match vmstate_core::json_stream::stream_to_json(&mut dec, json, &mut doc, |_| {}) {
                    Ok(_) => doc,
                    Err(_) => stream,
                }
            }
        }
        _ => stream,
    }
}

fn main() {
    println!("| target | input bytes | seconds | ns per byte |");
    println!("|---|---:|---:|---:|");
    for target in Target::ALL {
        for k in 0..4u32 {
            let n = 8_000usize << k;
            let data = input(target, n);
            let t = Instant::now();
            let verdict = target.run(&data);
            let secs = t.elapsed().as_secs_f64();
            if let Err(v) = verdict {
                eprintln!("{}: {v}", target.name());
            }
            println!(
                "| `{}` | {} | {:.4} | {:.1} |",
                target.name(),
                data.len(),
                secs,
                secs * 1e9 / data.len() as f64
            );
        }
    }
}
