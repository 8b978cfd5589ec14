//go:build !amd64 || purego

package fgemm

import "unsafe"

// has512 and use512 are false: the AVX-512 kernels exist only in the
// amd64 build. The functions below stand in for them with their
// signatures; none is called when use512 is false.
var has512, use512 = false, false

// kern12x16 stands in for the amd64 AVX-512 two-tile kernel.
func kern12x16(w *float32, stride int, xp *float32, c int, acc *[2 * tileAcc]float32) {
	for h := 0; h < 2; h++ {
		var rows [tileRows]*float32
		for i := range rows {
			rows[i] = (*float32)(unsafe.Add(unsafe.Pointer(w), 4*((h*tileRows+i)*stride)))
		}
		kernelGo(&rows, xp, c, (*[tileAcc]float32)(acc[h*tileAcc:]))
	}
}

// kern12x32 stands in for the amd64 AVX-512 kernel over two token groups.
func kern12x32(w *float32, stride int, xp0, xp1 *float32, c int, acc0, acc1 *[2 * tileAcc]float32) {
	kern12x16(w, stride, xp0, c, acc0)
	kern12x16(w, stride, xp1, c, acc1)
}
