package nixdb

import (
	"encoding/binary"
	"fmt"
)

// The B-trees of an SQLite file (https://www.sqlite.org/fileformat2.html#b_tree_pages),
// built bottom up from rows already in key order: the leaves filled one
// after the other, then each level of interior pages above them, until one
// page is left, which is written at the tree's root page.

// PageSize is the size of the database's pages. No bytes are reserved at
// the end of pages, so every byte is usable.
const PageSize = 4096

// maxPages keeps the file below 1 GiB, where SQLite's lock-byte page would
// have to be skipped.
const maxPages = 1<<30/PageSize - 1

// Page types.
const (
	indexInterior = 0x02
	tableInterior = 0x05
	indexLeaf     = 0x0a
	tableLeaf     = 0x0d
)

// The most payload a cell keeps on its page before the rest goes to
// overflow pages, and the least it keeps when it overflows.
const (
	maxLocalTable = PageSize - 35
	maxLocalIndex = (PageSize-12)*64/255 - 23
	minLocal      = (PageSize-12)*32/255 - 23
)

// file is the database being built: its pages, page 1 first.
type file struct {
	pages [][]byte
}

// alloc reserves the next page and returns its number.
func (f *file) alloc() (uint32, error) {
	if len(f.pages) >= maxPages {
		return 0, fmt.Errorf("the database would exceed %d pages of %d bytes", maxPages, PageSize)
	}
	f.pages = append(f.pages, nil)
	return uint32(len(f.pages)), nil
}

// spill returns the part of payload that stays in a cell whose page keeps
// at most maxLocal bytes, followed by the number of its first overflow
// page when the rest goes to a chain of overflow pages, written now.
func (f *file) spill(payload []byte, maxLocal int) ([]byte, error) {
	if len(payload) <= maxLocal {
		return payload, nil
	}
	local := minLocal + (len(payload)-minLocal)%(PageSize-4)
	if local > maxLocal {
		local = minLocal
	}
	rest := payload[local:]
	n := (len(rest) + PageSize - 5) / (PageSize - 4)
	pgnos := make([]uint32, n)
	for i := range pgnos {
		var err error
		if pgnos[i], err = f.alloc(); err != nil {
			return nil, err
		}
	}
	for i, pgno := range pgnos {
		page := make([]byte, PageSize)
		if i+1 < n {
			binary.BigEndian.PutUint32(page, pgnos[i+1])
		}
		k := copy(page[4:], rest)
		rest = rest[k:]
		f.pages[pgno-1] = page
	}
	out := append(append([]byte(nil), payload[:local]...), 0, 0, 0, 0)
	binary.BigEndian.PutUint32(out[local:], pgnos[0])
	return out, nil
}

// node is one page of a B-tree before it is written.
type node struct {
	typ   byte
	cells [][]byte
	// right is an interior page's right-most child.
	right uint32
}

// headerLen is the length of the page header of typ.
func headerLen(typ byte) int {
	if typ == tableLeaf || typ == indexLeaf {
		return 8
	}
	return 12
}

// capacity is the room for cells and their pointers on a page of typ
// whose header starts at offset (100 on page 1, after the file header).
func capacity(typ byte, offset int) int {
	return PageSize - offset - headerLen(typ)
}

// size is what n's cells take on its page, pointers included.
func (n *node) size() int {
	s := 0
	for _, c := range n.cells {
		s += len(c) + 2
	}
	return s
}

// write lays n out as page pgno: the header, the cell pointers in key
// order, the cells packed at the end of the page with no free blocks.
func (f *file) write(pgno uint32, n *node) error {
	offset := 0
	if pgno == 1 {
		offset = 100
	}
	if n.size() > capacity(n.typ, offset) {
		return fmt.Errorf("page %d: %d bytes of cells do not fit", pgno, n.size())
	}
	page := f.pages[pgno-1]
	if page == nil {
		page = make([]byte, PageSize)
	}
	h := page[offset:]
	h[0] = n.typ
	binary.BigEndian.PutUint16(h[3:], uint16(len(n.cells)))
	ptr := offset + headerLen(n.typ)
	content := PageSize
	for i, c := range n.cells {
		content -= len(c)
		copy(page[content:], c)
		binary.BigEndian.PutUint16(page[ptr+2*i:], uint16(content))
	}
	// A content area starting at 65536 is written 0; with 4096-byte pages
	// it never does.
	binary.BigEndian.PutUint16(h[5:], uint16(content))
	if n.typ == tableInterior || n.typ == indexInterior {
		binary.BigEndian.PutUint32(h[8:], n.right)
	}
	f.pages[pgno-1] = page
	return nil
}

// place writes the nodes of a level below the root on new pages and
// returns their numbers.
func (f *file) place(level []*node) ([]uint32, error) {
	pgnos := make([]uint32, len(level))
	for i, n := range level {
		var err error
		if pgnos[i], err = f.alloc(); err != nil {
			return nil, err
		}
		if err := f.write(pgnos[i], n); err != nil {
			return nil, err
		}
	}
	return pgnos, nil
}

// tableRow is a row of a table B-tree: its rowid and its record.
type tableRow struct {
	rowid   int64
	payload []byte
}

// buildTable writes the table B-tree of rows, sorted by rowid, with its
// root at page root.
func (f *file) buildTable(root uint32, rows []tableRow) error {
	cells := make([][]byte, len(rows))
	keys := make([]int64, len(rows))
	for i, r := range rows {
		if i > 0 && r.rowid <= rows[i-1].rowid {
			return fmt.Errorf("rowids out of order: %d after %d", r.rowid, rows[i-1].rowid)
		}
		local, err := f.spill(r.payload, maxLocalTable)
		if err != nil {
			return err
		}
		c := appendVarint(nil, uint64(len(r.payload)))
		c = appendVarint(c, uint64(r.rowid))
		cells[i] = append(c, local...)
		keys[i] = r.rowid
	}
	// The leaves: as many rows as fit in each.
	level := []*node{{typ: tableLeaf}}
	var maxKeys []int64
	for i, c := range cells {
		n := level[len(level)-1]
		if len(n.cells) > 0 && n.size()+len(c)+2 > capacity(tableLeaf, 0) {
			maxKeys = append(maxKeys, keys[i-1])
			n = &node{typ: tableLeaf}
			level = append(level, n)
		}
		n.cells = append(n.cells, c)
	}
	if len(cells) > 0 {
		maxKeys = append(maxKeys, keys[len(keys)-1])
	}
	for len(level) > 1 {
		pgnos, err := f.place(level)
		if err != nil {
			return err
		}
		// Each interior page: cells (child, its largest key), then its
		// last child as the right-most pointer, whose largest key is the
		// page's.
		cost := func(i int) int { return 4 + varintLen(uint64(maxKeys[i])) + 2 }
		var next []*node
		var nextKeys []int64
		for start := 0; start < len(pgnos); {
			end := start + 1
			used := cost(start)
			for end+1 < len(pgnos) && used+cost(end) <= capacity(tableInterior, 0) {
				used += cost(end)
				end++
			}
			if end == len(pgnos)-2 && end-start >= 2 {
				// A last page with one child and no cell is not
				// allowed: leave it two.
				end--
			}
			n := &node{typ: tableInterior, right: pgnos[end]}
			for i := start; i < end; i++ {
				c := binary.BigEndian.AppendUint32(nil, pgnos[i])
				n.cells = append(n.cells, appendVarint(c, uint64(maxKeys[i])))
			}
			next = append(next, n)
			nextKeys = append(nextKeys, maxKeys[end])
			start = end + 1
		}
		level, maxKeys = next, nextKeys
	}
	return f.write(root, level[0])
}

// buildIndex writes the index B-tree of keys, sorted and distinct, with
// its root at page root. In an index B-tree every key is stored once: the
// keys between two leaves go up into their parent as its cells.
func (f *file) buildIndex(root uint32, keys [][]value) error {
	bodies := make([][]byte, len(keys))
	for i, k := range keys {
		if i > 0 && compareKeys(keys[i-1], k) >= 0 {
			return fmt.Errorf("index keys out of order or repeated (key %d)", i)
		}
		payload := record(k...)
		local, err := f.spill(payload, maxLocalIndex)
		if err != nil {
			return err
		}
		bodies[i] = append(appendVarint(nil, uint64(len(payload))), local...)
	}
	// The leaves, and the keys between them.
	level := []*node{{typ: indexLeaf}}
	var seps [][]byte
	for i := 0; i < len(bodies); {
		n := level[len(level)-1]
		end := i
		used := n.size()
		for end < len(bodies) && (end == i || used+len(bodies[end])+2 <= capacity(indexLeaf, 0)) {
			used += len(bodies[end]) + 2
			end++
		}
		if end == len(bodies)-1 && end-i >= 2 {
			// The last key would go up with no leaf after it.
			end--
		}
		n.cells = append(n.cells, bodies[i:end]...)
		if end == len(bodies) {
			break
		}
		seps = append(seps, bodies[end])
		level = append(level, &node{typ: indexLeaf})
		i = end + 1
	}
	for len(level) > 1 {
		pgnos, err := f.place(level)
		if err != nil {
			return err
		}
		// Children c0..cm with keys s0..s(m-1) between them: a page takes
		// cells (ci, si) and a right-most child cj; sj goes up.
		var next []*node
		var nextSeps [][]byte
		m := len(pgnos) - 1
		for start := 0; start <= m; {
			end := start + 1
			used := 4 + len(seps[start]) + 2
			for end < m && used+4+len(seps[end])+2 <= capacity(indexInterior, 0) {
				used += 4 + len(seps[end]) + 2
				end++
			}
			if end == m-1 && end-start >= 2 {
				// Leave the last page a cell.
				end--
			}
			n := &node{typ: indexInterior, right: pgnos[end]}
			for i := start; i < end; i++ {
				n.cells = append(n.cells, append(binary.BigEndian.AppendUint32(nil, pgnos[i]), seps[i]...))
			}
			next = append(next, n)
			if end < m {
				nextSeps = append(nextSeps, seps[end])
			}
			start = end + 1
		}
		level, seps = next, nextSeps
	}
	return f.write(root, level[0])
}
