//! Divan benchmarks for forge.
