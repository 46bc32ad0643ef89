package nixdb

import (
	"bytes"
	"encoding/binary"
)

// The SQLite record format (https://www.sqlite.org/fileformat2.html#record_format):
// a header of varints (its own length, then one serial type per column)
// and the columns' values.

// kind is a value's storage class, in SQLite's sort order.
type kind uint8

const (
	kindNull kind = iota
	kindInt
	kindText
)

// value is one column's value: NULL, an integer or UTF-8 text.
type value struct {
	kind kind
	i    int64
	s    string
}

func null() value           { return value{kind: kindNull} }
func integer(i int64) value { return value{kind: kindInt, i: i} }
func text(s string) value   { return value{kind: kindText, s: s} }

// textOrNull is text(s), or NULL when s is empty.
func textOrNull(s string) value {
	if s == "" {
		return null()
	}
	return text(s)
}

// compare orders values as SQLite's BINARY collation does: NULL before
// integers before text, integers by value, text byte by byte.
func compare(a, b value) int {
	if a.kind != b.kind {
		if a.kind < b.kind {
			return -1
		}
		return 1
	}
	switch a.kind {
	case kindInt:
		switch {
		case a.i < b.i:
			return -1
		case a.i > b.i:
			return 1
		}
		return 0
	case kindText:
		return bytes.Compare([]byte(a.s), []byte(b.s))
	}
	return 0
}

// compareKeys orders index keys column by column.
func compareKeys(a, b []value) int {
	for i := 0; i < len(a) && i < len(b); i++ {
		if c := compare(a[i], b[i]); c != 0 {
			return c
		}
	}
	return len(a) - len(b)
}

// intSize is the serial type and byte length of the smallest encoding of
// i, as SQLite chooses it (schema format 4: 0 and 1 take no bytes).
func intSize(i int64) (serial uint64, n int) {
	switch {
	case i == 0:
		return 8, 0
	case i == 1:
		return 9, 0
	case i >= -1<<7 && i < 1<<7:
		return 1, 1
	case i >= -1<<15 && i < 1<<15:
		return 2, 2
	case i >= -1<<23 && i < 1<<23:
		return 3, 3
	case i >= -1<<31 && i < 1<<31:
		return 4, 4
	case i >= -1<<47 && i < 1<<47:
		return 5, 6
	}
	return 6, 8
}

// serial is the serial type of v and the length of its body.
func (v value) serial() (uint64, int) {
	switch v.kind {
	case kindInt:
		return intSize(v.i)
	case kindText:
		return uint64(len(v.s))*2 + 13, len(v.s)
	}
	return 0, 0
}

// record encodes values as a record.
func record(values ...value) []byte {
	var types []byte
	body := 0
	for _, v := range values {
		s, n := v.serial()
		types = appendVarint(types, s)
		body += n
	}
	// The header's length counts its own varint.
	hl := len(types) + 1
	for varintLen(uint64(hl))+len(types) != hl {
		hl = varintLen(uint64(hl)) + len(types)
	}
	out := make([]byte, 0, hl+body)
	out = appendVarint(out, uint64(hl))
	out = append(out, types...)
	for _, v := range values {
		switch v.kind {
		case kindInt:
			_, n := intSize(v.i)
			var b [8]byte
			binary.BigEndian.PutUint64(b[:], uint64(v.i))
			out = append(out, b[8-n:]...)
		case kindText:
			out = append(out, v.s...)
		}
	}
	return out
}

// appendVarint appends SQLite's varint encoding of v: big-endian groups of
// 7 bits with the high bit set on all but the last byte, the ninth byte
// (when there is one) holding 8 bits.
func appendVarint(b []byte, v uint64) []byte {
	if v > 1<<56-1 {
		var buf [9]byte
		buf[8] = byte(v)
		v >>= 8
		for i := 7; i >= 0; i-- {
			buf[i] = byte(v&0x7f) | 0x80
			v >>= 7
		}
		return append(b, buf[:]...)
	}
	var buf [8]byte
	i := len(buf) - 1
	buf[i] = byte(v & 0x7f)
	v >>= 7
	for v != 0 {
		i--
		buf[i] = byte(v&0x7f) | 0x80
		v >>= 7
	}
	return append(b, buf[i:]...)
}

// varintLen is the length of v's varint encoding.
func varintLen(v uint64) int {
	if v > 1<<56-1 {
		return 9
	}
	n := 1
	for v >>= 7; v != 0; v >>= 7 {
		n++
	}
	return n
}
