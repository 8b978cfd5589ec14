// Package archcmd implements "hil arch": listing presets, showing a spec's
// exact parameter, FLOP and memory accounting, and exporting a spec as JSON,
// a Hugging Face config.json or a GGUF file with seeded random weights. All
// the arithmetic is package arch's; this package only reads, prints and
// writes files.
package archcmd
