// Package asm holds the leaf inner loops of the kernels: dot products,
// axpy, row normalisation and activation quantisation over flat slices.
//
// Every function here has a flat-slice signature, does no allocation and no
// shape checking beyond what its doc comment states; callers in package
// kernels check shapes first. The functions in this file set are the pure-Go
// reference versions. A SIMD build replaces them behind the function
// variables of package kernels (see kernels.Variant), so an assembly
// implementation must return exactly what its doc comment describes, up to
// the floating-point summation order it documents.
package asm
