//! Every training recipe in `train/` parses and passes validation (a typo there would only
//! show hours into a run otherwise).

use deblur::train::config::TrainConfig;

#[test]
fn all_recipes_are_valid() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("train");
    let mut n = 0;
    for entry in std::fs::read_dir(&dir).expect("train/ exists") {
        let path = entry.expect("entry").path();
        if path.extension().is_some_and(|e| e == "toml") {
            let cfg = TrainConfig::read(&path).unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(
                cfg.schedule.stages.last().map(|s| s.until),
                Some(cfg.schedule.iterations),
                "{}",
                path.display()
            );
            if cfg.net.pde().is_some() {
                assert_eq!(
                    cfg.pde_at(cfg.schedule.iterations).k,
                    5,
                    "PDE runs end at K = 5"
                );
            }
            n += 1;
        }
    }
    assert!(n >= 3, "expected the nafnet-s, -ft and -pde recipes");
}
