"""Backends: each turns IR into code for one target and hands the runtime something to run."""
