"""Analyses of trained models: complexity (parameters, MACs/FLOPs, activation memory; Section IV-F)."""
