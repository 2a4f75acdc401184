// Throwaway: cross-validation of the head's L2 on the train-split sample only.
use flicktune::classifier::FeatureScaling;
use flicktune::features::FeatureCache;
use flicktune::training::*;
use rand::seq::SliceRandom;
use rand::SeedableRng;
fn main() {
    let mut cache: FeatureCache = serde_json::from_str(&std::fs::read_to_string("assets/page/features.paraphrase-MiniLM-L3-v2.json").unwrap()).unwrap();
    if std::env::var("POOL").is_ok() {
        let assets = flicktune::assets::AssetDir::new("assets");
        let device = burn::tensor::Device::flex();
        let (tokenizer, model) = assets.model_files(flicktune::models::ModelName::L3).unwrap().load(&device).unwrap();
        let e = flicktune::features::Embedder { tokenizer, model, device, pooling: std::env::var("POOL").unwrap().parse().unwrap(), batch_size: 8 };
        let texts: Vec<String> = std::fs::read_to_string("assets/data/imdb/sample.jsonl").unwrap().lines().map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()["text"].as_str().unwrap().to_string()).collect();
        cache.sample = e.embed(&texts).unwrap().into_iter().map(|e| e.vector).collect();
    }
    let labels: Vec<u8> = std::fs::read_to_string("assets/data/imdb/sample.jsonl").unwrap().lines().map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()["label"].as_u64().unwrap() as u8).collect();
    let full = FeatureScaling::fit(&cache.sample);
    let gstd = (full.scale.iter().map(|s| s*s).sum::<f32>() / full.scale.len() as f32).sqrt();
    let variants = [("perdim", full.clone()), ("center+global", FeatureScaling { center: full.center.clone(), scale: vec![gstd; full.scale.len()] }), ("raw*20", FeatureScaling { center: vec![0.0; 384], scale: vec![0.05; 384] })];
    for (name, scaling) in variants {
    let device = burn::tensor::Device::flex();
    for &n in &[20usize, 100] {
        for &l2 in &[0.02, 0.2] {
            let mut accs = vec![];
            let t = std::time::Instant::now();
            for seed in 0..10u64 {
                let mut idx: Vec<usize> = (0..300).collect();
                idx.shuffle(&mut rand_chacha::ChaCha8Rng::seed_from_u64(seed));
                let (tr, ev) = idx.split_at(n);
                let ex: Vec<Example> = tr.iter().map(|&i| Example { features: &cache.sample[i], label: labels[i] }).collect();
                let cfg = HeadTrainingConfig::new().with_l2(l2);
                let Ok(trainer) = HeadTrainer::new(&ex, scaling.clone(), FeatureSource { encoder: "x".into(), pooling: "first".into() }, cfg, &device) else { continue };
                let c = train_blocking(trainer).unwrap();
                let right = ev.iter().filter(|&&i| c.predict(&cache.sample[i]).unwrap().label == labels[i]).count();
                accs.push(right as f32 / ev.len() as f32);
            }
            println!("{name} n={n} l2={l2} acc={:.3} ({} draws, {:?})", accs.iter().sum::<f32>() / accs.len() as f32, accs.len(), t.elapsed() / accs.len() as u32);
        }
    }
}
}
