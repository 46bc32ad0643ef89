package outside

import "path"

// fileSet is the set of entry names of an image's root filesystem as its
// layers leave it (names relative to the root, "" the root itself). Each
// directory's children are indexed, implicit parents included, so that a
// whiteout removes a subtree in the time of that subtree: a layer of many
// whiteouts over a layer of many files takes linear time, where scanning
// every name for each whiteout took quadratic time (40,000 whiteouts: 29
// seconds).
type fileSet struct {
	// has holds the names layers added and whiteouts did not remove.
	has map[string]bool
	// children holds each directory's direct children that are in has or
	// are the parents of names in has.
	children map[string]map[string]struct{}
}

func newFileSet() *fileSet {
	return &fileSet{has: map[string]bool{}, children: map[string]map[string]struct{}{}}
}

// parent is name's directory ("" for a name at the root).
func parent(name string) string {
	if d := path.Dir(name); d != "." {
		return d
	}
	return ""
}

// add adds name, and indexes it and its parents.
func (s *fileSet) add(name string) {
	s.has[name] = true
	for n := name; n != ""; n = parent(n) {
		p := parent(n)
		c := s.children[p]
		if c == nil {
			c = map[string]struct{}{}
			s.children[p] = c
		}
		if _, ok := c[n]; ok {
			return
		}
		c[n] = struct{}{}
	}
}

// remove removes name and everything below it.
func (s *fileSet) remove(name string) {
	if name == "" {
		s.empty("")
		return
	}
	s.empty(name)
	delete(s.has, name)
	if c := s.children[parent(name)]; c != nil {
		delete(c, name)
	}
}

// empty removes everything below dir, keeping dir.
func (s *fileSet) empty(dir string) {
	stack := []string{dir}
	for len(stack) > 0 {
		d := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		for c := range s.children[d] {
			delete(s.has, c)
			stack = append(stack, c)
		}
		delete(s.children, d)
	}
}

// contains tells whether name is in the set.
func (s *fileSet) contains(name string) bool { return s.has[name] }
