//! RAM section body: records, block-list extras, mapped-ram layout, errors.

use qemufile::ram::{
    self, BlockPageSizes, MappedRamHeader, RamBlock, RamConfig, RamItem, RamKind, RamReader,
    RamRecord, RamWriter,
};
use qemufile::stream::IdStr;
use qemufile::{ErrorKind, QemuRead, QemuWrite, Reader, SliceReader};

fn name(s: &str) -> IdStr {
    IdStr::try_from(s).unwrap()
}

/// Reads every item of `body` (payloads copied) and rewrites them.
fn reread(cfg: &RamConfig, body: &[u8], base: usize) -> (Vec<RamItem>, Vec<u8>) {
    let mut r = SliceReader::with_base_offset(&body[base..], base as u64);
    let mut rr = RamReader::new(cfg.clone());
    let w = RamWriter::new(cfg.clone());
    let mut out = body[..base].to_vec();
    let mut items = Vec::new();
    while !r.is_empty() {
        let item = rr.next_item(&mut r).unwrap();
        w.write_item(&mut out, &item).unwrap();
        rr.copy_payload(&mut r, &mut out).unwrap();
        items.push(item);
    }
    (items, out)
}

#[test]
fn all_record_kinds_roundtrip() {
    let cfg = RamConfig::new(4096);
    let w = RamWriter::new(cfg.clone());
    let mut b = Vec::new();
    let items = [
        RamItem::Record(RamRecord::mem_size(0x3000)),
        RamItem::Block(RamBlock::new("pc.ram", 0x2000).unwrap()),
        RamItem::Block(RamBlock::new("pc.bios", 0x1000).unwrap()),
        RamItem::Record(RamRecord::zero(0, Some(name("pc.ram")))),
        RamItem::Record(RamRecord::page(0x1000, None)),
        RamItem::Record(RamRecord::xbzrle(0x1000, None, 3)),
        RamItem::Record(RamRecord::hook()),
        RamItem::Record(RamRecord::page(0, Some(name("pc.bios")))),
        RamItem::Record(RamRecord::multifd_flush()),
        RamItem::Record(RamRecord::eos()),
    ];
    for it in &items {
        w.write_item(&mut b, it).unwrap();
        if let RamItem::Record(r) = it {
            match r.kind {
                RamKind::Page => b.put_bytes(&[0x5a; 4096]).unwrap(),
                RamKind::Xbzrle { .. } => b.put_bytes(&[1, 2, 3]).unwrap(),
                _ => {}
            }
        }
    }
    // MEM_SIZE word and the first block entry as QEMU writes them.
    assert_eq!(&b[..8], &0x3004u64.to_be_bytes());
    assert_eq!(&b[8..15], b"\x06pc.ram");
    let (got, out) = reread(&cfg, &b, 0);
    assert_eq!(got, items);
    assert_eq!(out, b);
    // The same through a buffered io reader, skipping payloads.
    let mut r = Reader::new(&b[..]);
    let mut rr = RamReader::new(cfg);
    for it in &items {
        assert_eq!(&rr.next_item(&mut r).unwrap(), it);
    }
    assert_eq!(r.position(), b.len() as u64);
}

#[test]
fn page_data_read_in_chunks() {
    let cfg = RamConfig::new(4096);
    let mut b = Vec::new();
    let w = RamWriter::new(cfg.clone());
    w.write_item(
        &mut b,
        &RamItem::Record(RamRecord::page(0x7000, Some(name("r")))),
    )
    .unwrap();
    let page: Vec<u8> = (0..4096).map(|i| i as u8).collect();
    b.put_bytes(&page).unwrap();
    let mut r = SliceReader::new(&b);
    let mut rr = RamReader::new(cfg);
    let RamItem::Record(rec) = rr.next_item(&mut r).unwrap() else {
        panic!()
    };
    assert_eq!((rec.addr, rec.flags), (0x7000, ram::FLAG_PAGE));
    assert_eq!(rr.payload_remaining(), 4096);
    let mut half = [0u8; 2048];
    rr.read_payload(&mut r, &mut half).unwrap();
    assert_eq!(half[..], page[..2048]);
    let mut big = [0u8; 4096];
    assert!(rr.read_payload(&mut r, &mut big).is_err());
    rr.read_payload(&mut r, &mut half).unwrap();
    assert_eq!(half[..], page[2048..]);
    assert!(r.is_empty());
}

#[test]
fn block_extras_roundtrip() {
    let cfg = RamConfig {
        ignore_shared: true,
        postcopy_page_sizes: BlockPageSizes::Blocks(vec![name("huge")]),
        ..RamConfig::new(4096)
    };
    let mut huge = RamBlock::new("huge", 0x20_0000).unwrap();
    huge.page_size = Some(0x20_0000);
    huge.mr_addr = Some(0x1_0000_0000);
    let mut small = RamBlock::new("small", 0x1000).unwrap();
    small.mr_addr = Some(0);
    let items = vec![
        RamItem::Record(RamRecord::mem_size(0x20_1000)),
        RamItem::Block(huge),
        RamItem::Block(small),
        RamItem::Record(RamRecord::eos()),
    ];
    let w = RamWriter::new(cfg.clone());
    let mut b = Vec::new();
    for it in &items {
        w.write_item(&mut b, it).unwrap();
    }
    assert_eq!(b.len(), 8 + (5 + 8 + 8 + 8) + (6 + 8 + 8) + 8);
    let (got, out) = reread(&cfg, &b, 0);
    assert_eq!(got, items);
    assert_eq!(out, b);
    // A block that does not match the configuration is refused by the writer.
    let e = RamWriter::new(RamConfig::new(4096))
        .write_item(&mut Vec::new(), &items[1])
        .unwrap_err();
    assert!(matches!(e.kind(), ErrorKind::InvalidArgument(_)));
}

fn first_error(cfg: RamConfig, b: &[u8]) -> qemufile::Error {
    let mut r = SliceReader::new(b);
    let mut rr = RamReader::new(cfg);
    loop {
        if let Err(e) = rr.next_item(&mut r) {
            return e;
        }
    }
}

#[test]
fn errors() {
    let cfg = RamConfig::new(4096);
    // CONTINUE with no block named before
    let e = first_error(cfg.clone(), &(0x1000u64 | 0x22).to_be_bytes());
    assert!(matches!(e.kind(), ErrorKind::RamContinueWithoutBlock));
    // ZERO|PAGE
    let mut b = (0x0au64).to_be_bytes().to_vec();
    b.extend_from_slice(b"\x01a");
    let e = first_error(cfg.clone(), &b);
    assert!(
        e.to_string()
            .contains("Unknown combination of migration flags: 0xa")
    );
    assert_eq!(e.offset(), 0);
    // compressed page
    let e = first_error(cfg.clone(), &0x100u64.to_be_bytes());
    assert!(matches!(e.kind(), ErrorKind::RamCompressedPage));
    // unknown flag bit
    let e = first_error(cfg.clone(), &0x400u64.to_be_bytes());
    assert!(matches!(e.kind(), ErrorKind::RamFlags(0x400)));
    // XBZRLE encoding and length
    let mut b = (0x40u64).to_be_bytes().to_vec();
    b.extend_from_slice(b"\x01a\x02\x00\x10");
    assert!(matches!(
        first_error(cfg.clone(), &b).kind(),
        ErrorKind::XbzrleEncoding(2)
    ));
    let mut b = (0x40u64).to_be_bytes().to_vec();
    b.extend_from_slice(b"\x01a\x01\x10\x01");
    assert!(matches!(
        first_error(cfg.clone(), &b).kind(),
        ErrorKind::XbzrleLength(0x1001)
    ));
    // block list longer than MEM_SIZE
    let mut b = (0x1000u64 | 4).to_be_bytes().to_vec();
    b.extend_from_slice(b"\x01a");
    b.extend_from_slice(&0x2000u64.to_be_bytes());
    let e = first_error(cfg.clone(), &b);
    assert!(matches!(
        e.kind(),
        ErrorKind::RamBlockList {
            length: 0x2000,
            remaining: 0x1000,
            ..
        }
    ));
    assert_eq!(e.offset(), 8);
    // truncated page
    let mut b = (0x08u64).to_be_bytes().to_vec();
    b.extend_from_slice(b"\x01a");
    b.extend_from_slice(&[0; 100]);
    b.extend_from_slice(&0x10u64.to_be_bytes());
    let e = first_error(cfg.clone(), &b);
    assert!(e.is_eof());
    // a bad page size in the configuration
    let e = first_error(RamConfig::new(1000), &0x10u64.to_be_bytes());
    assert!(matches!(e.kind(), ErrorKind::InvalidArgument(_)));
}

/// Builds a stream-like buffer: `prefix` bytes, then a mapped-ram RAM body
/// with two blocks, laid out as QEMU does.
fn mapped_body(prefix: usize) -> (RamConfig, Vec<u8>, u64) {
    let cfg = RamConfig {
        mapped_ram: true,
        ..RamConfig::new(4096)
    };
    let w = RamWriter::new(cfg.clone());
    let mut b = vec![0xee; prefix];
    let blocks = [
        ("pc.ram", 0x10_0000u64, 0b1010_0001u8),
        ("pc.bios", 0x4000, 0b0110),
    ];
    let total = blocks.iter().map(|b| b.1).sum();
    w.write_item(&mut b, &RamItem::Record(RamRecord::mem_size(total)))
        .unwrap();
    let mut set = 0;
    for (n, len, bits) in blocks {
        let mut blk = RamBlock::new(n, len).unwrap();
        let hdr_at = b.len() as u64 + 1 + n.len() as u64 + 8;
        let h = MappedRamHeader::for_block(hdr_at, len, 4096);
        assert_eq!(h.pages_offset % ram::MAPPED_RAM_FILE_OFFSET_ALIGNMENT, 0);
        blk.mapped_ram = Some(h);
        w.write_item(&mut b, &RamItem::Block(blk)).unwrap();
        assert_eq!(b.len() as u64, hdr_at + ram::MAPPED_RAM_HEADER_SIZE);
        let mut bitmap = vec![0u8; h.bitmap_len(len) as usize];
        bitmap[0] = bits;
        set += u64::from(bits.count_ones());
        ram::write_mapped_region(&mut b, &h, len, &bitmap, |i, buf| {
            buf.fill(i as u8 + 1);
            Ok(())
        })
        .unwrap();
        assert_eq!(b.len() as u64, h.pages_offset + len);
    }
    w.write_item(&mut b, &RamItem::Record(RamRecord::eos()))
        .unwrap();
    (cfg, b, set)
}

#[test]
fn mapped_ram_layout_roundtrip() {
    let (cfg, b, set) = mapped_body(100);
    let (items, out) = reread(&cfg, &b, 100);
    assert_eq!(items.len(), 4);
    assert!(out == b);
    // Walk it again, reading the bitmaps and a page from the region.
    let mut r = SliceReader::with_base_offset(&b[100..], 100);
    let mut rr = RamReader::new(cfg);
    let mut seen = 0;
    loop {
        match rr.next_item(&mut r).unwrap() {
            RamItem::Block(blk) => {
                let reg = rr.mapped_region().unwrap();
                let h = blk.mapped_ram.unwrap();
                assert_eq!(reg.bitmap_offset, r.position());
                assert_eq!(reg.end, h.pages_offset + blk.length);
                let mut bm = vec![0u8; reg.bitmap_len as usize];
                rr.read_payload(&mut r, &mut bm).unwrap();
                seen += bm.iter().map(|x| x.count_ones() as u64).sum::<u64>();
                let mut pad = vec![0u8; (reg.pages_offset - r.position()) as usize];
                rr.read_payload(&mut r, &mut pad).unwrap();
                assert!(pad.iter().all(|&x| x == 0));
                let mut page = [0u8; 4096];
                rr.read_payload(&mut r, &mut page).unwrap();
                assert_eq!(page[0], if bm[0] & 1 != 0 { 1 } else { 0 });
                // rest skipped by next_item
            }
            RamItem::Record(rec) if rec.kind == RamKind::Eos => break,
            _ => {}
        }
    }
    assert_eq!(seen, set);
    assert!(r.is_empty());
}

#[test]
fn mapped_ram_errors() {
    let (cfg, b, _) = mapped_body(0);
    let hdr = 8 + 7 + 8; // MEM_SIZE, "\x06pc.ram", length
    let mut c = b.clone();
    c[hdr + 3] = 2; // version 2
    let e = first_error(cfg.clone(), &c);
    assert!(
        e.to_string().contains(
            "Migration mapped-ram capability version not supported (expected <= 1, got 2)"
        )
    );
    assert_eq!(e.offset(), hdr as u64);
    let mut c = b.clone();
    c[hdr + 4 + 8 + 8 + 7] = 1; // pages_offset + 1
    let e = first_error(cfg.clone(), &c);
    assert!(
        e.to_string()
            .contains("Error reading ramblock pc.ram pages, region has bad alignment")
    );
    let mut c = b.clone();
    c[hdr + 4 + 8 + 7] = 0; // bitmap offset behind the position
    let e = first_error(cfg.clone(), &c);
    assert!(matches!(e.kind(), ErrorKind::MappedRamLayout { .. }));
    let mut c = b.clone();
    c[hdr + 4 + 8 + 8..hdr + 4 + 8 + 8 + 8]
        .copy_from_slice(&0xffff_ffff_fff0_0000u64.to_be_bytes());
    let e = first_error(cfg.clone(), &c);
    assert!(matches!(e.kind(), ErrorKind::MappedRamLayout { .. }), "{e}");
    // Truncated region
    let e = first_error(cfg, &b[..b.len() - 10_000]);
    assert!(e.is_eof());
}
