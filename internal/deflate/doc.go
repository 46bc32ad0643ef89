// Package deflate is the lazy-matching DEFLATE compressor (RFC 1951) of
// github.com/klauspost/compress/flate v1.20.5, copied with its licence
// (LICENSE) so that the matcher's limits can be chosen by the caller:
// klauspost's levels are fixed sets of them, and the set that keeps gzip
// layers within 2 % of zlib's level 6 on every kind of content with room,
// (lazy, nice, chain) = (16, 32, 48), lies between its levels 7 and 8, at
// about 0.85 to 0.9 times the CPU time of its level 8 (see
// docs/benchmark.md).
//
// What changed from klauspost's package: only the lazy matcher of its
// levels 7 and 8 is kept, with the Huffman block writer it needs; its
// levels 1 to 6, the stored and Huffman-only modes, level 9's cost model
// (hence Chain at most 100), NewWriter, Reset, the decompressor and a
// branch disabled there are left out. The limits are given as Params
// instead of a level (without zlib's "good" limit, which klauspost's
// matcher does not use), and loads and stores go through encoding/binary
// instead of unsafe. With klauspost's level 7 or 8 limits the output is
// byte for byte that of its NewWriterDict at that level
// (TestSameAsKlauspost).
package deflate
