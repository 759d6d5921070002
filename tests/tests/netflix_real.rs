//! The Netflix Prize split parser on a real rating block
//! (`netflix-prize/samples/SampleTrainingFileMovie2043.txt` in the shared
//! data folder; skipped when it is absent): every line read once, the same
//! ratings for 1, 2, 7 and 16 byte-range splits, LF and CRLF.

use moodflow_udfs::netflix::parse::{parse_split, Rating};

fn parse(data: &[u8], parts: usize) -> (Vec<Rating>, usize) {
    let (mut ok, mut bad) = (Vec::new(), 0);
    let step = data.len().div_ceil(parts);
    for p in 0..parts {
        let (start, end) = (p * step, ((p + 1) * step).min(data.len()));
        parse_split(data, start, end, &mut |r| ok.push(r), &mut |_| bad += 1);
    }
    (ok, bad)
}

#[test]
fn a_real_block_splits_the_same_at_any_partitioning() {
    let Some(dir) = moodflow_tests::shared_data() else {
        eprintln!("skipped: ../shared/data is absent");
        return;
    };
    let Ok(data) = std::fs::read(dir.join("netflix-prize/samples/SampleTrainingFileMovie2043.txt")) else {
        eprintln!("skipped: the Netflix sample block is absent");
        return;
    };
    let (whole, bad) = parse(&data, 1);
    // 7,872 lines: the `2043:` header and 7,871 ratings.
    assert_eq!((whole.len(), bad), (7871, 0));
    assert!(whole.iter().all(|r| r.movie_id == 2043 && (1..=5).contains(&r.rating)));
    assert_eq!(
        (whole[0].customer_id, whole[0].rating),
        (716_091, 2),
        "first line 716091,2,2003-10-02"
    );
    let crlf: Vec<u8> = String::from_utf8_lossy(&data).replace('\n', "\r\n").into_bytes();
    for parts in [2, 7, 16] {
        assert_eq!(parse(&data, parts), (whole.clone(), 0), "{parts} splits");
        assert_eq!(parse(&crlf, parts), (whole.clone(), 0), "{parts} splits, CRLF");
    }
}
