//! Writes the hostile streams of `vmstate_tests::hostile` at growing sizes
//! into a directory, for `bench/linearity.sh`: `hostile_streams DIR`.

use std::path::Path;

use vmstate_tests::hostile;

fn main() -> std::io::Result<()> {
    let Some(dir) = std::env::args().nth(1) else {
        eprintln!("usage: hostile_streams DIR");
        std::process::exit(2);
    };
    let dir = Path::new(&dir);
    std::fs::create_dir_all(dir)?;
    for k in 0..5u32 {
        let n = 10_000usize << k;
        // One vmdesc entry per byte: descriptions and values grow with the input.
        let fields = hostile::stream(&[hostile::many_byte_fields(n)]);
        std::fs::write(dir.join(format!("fields-{n}.mig")), fields)?;
        // Many small sections: the section table and per-section work.
        let sections: Vec<hostile::Section> = (0..n / 10)
            .map(|i| {
                hostile::Section::new(
                    &format!("dev{i}"),
                    serde_json::json!([{ "name": "a", "array_len": 8, "type": "uint8", "size": 1 }]),
                    vec![0x5a; 8],
                )
            })
            .collect();
        std::fs::write(
            dir.join(format!("sections-{}.mig", n / 10)),
            hostile::stream(&sections),
        )?;
        // Zero-length RAM block entries up to the block limit's order.
        let blocks = n.min(60_000);
        std::fs::write(
            dir.join(format!("blocks-{blocks}.mig")),
            hostile::zero_length_ram_blocks(blocks),
        )?;
    }
    Ok(())
}
