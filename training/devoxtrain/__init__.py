"""DevoX training library: data readers, splits, phone-channel simulation, augmentation, model, export, metrics."""
