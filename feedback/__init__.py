"""First-party feedback store: database, events, experiments and their statistics, features and datasets."""
