package arch

// Precision is the storage format of a network's weight matrices.
type Precision string

// Weight formats. Q8_0 and Q4_0 use llama.cpp's 32-weight blocks: an f16
// scale then 32 int8 (34 bytes) or 32 packed 4-bit values (18 bytes).
const (
	F32  Precision = "f32"
	F16  Precision = "f16"
	Q8_0 Precision = "q8_0"
	Q4_0 Precision = "q4_0"
)

// Precisions lists every supported weight format.
var Precisions = []Precision{F32, F16, Q8_0, Q4_0}

// QuantBlock is the number of weights in one q8_0/q4_0 block.
const QuantBlock = 32

// RowBytes is the storage size of one matrix row of n weights (n a multiple
// of QuantBlock for the block formats).
func (p Precision) RowBytes(n int) int64 {
	switch p {
	case F32:
		return 4 * int64(n)
	case F16:
		return 2 * int64(n)
	case Q8_0:
		return 34 * int64(n/QuantBlock)
	case Q4_0:
		return 18 * int64(n/QuantBlock)
	}
	return 0
}

// Valid reports whether p is a known precision.
func (p Precision) Valid() bool {
	for _, q := range Precisions {
		if p == q {
			return true
		}
	}
	return false
}
