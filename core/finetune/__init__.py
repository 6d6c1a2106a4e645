"""Fine-tune: config, data, Trainer glue, runs on disk, publishing, script export."""
