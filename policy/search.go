package policy

import (
	"fmt"
	"math"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// Database-side search terms (docs/design/search-terms.md §3): the keys
// `search`, `search_key_version` and `search_state` of a column. This
// phiguard reads and validates them, and the proxy's writes put the terms
// into the cells. With `search_state: ready` (every cell carries terms of
// search_key_version) the proxy's =, ranges and BETWEEN on the column
// send a term conjunct the database serves from the term index (the
// design's slice 4). With `search_state: rekeying` (slice 7, §5.3: the
// terms are being rewritten to a new search_key_version) = and IN search
// through the equality terms of every loaded version of the key, and
// ranges, BETWEEN and ORDER BY are evaluated proxy-side (order terms of
// two versions cannot be compared).

// SearchKind is one kind of search term a column may carry.
type SearchKind uint8

// The search term kinds, as the policy file writes them.
const (
	// SearchEquality: an 8-byte keyed hash of the value, for = and IN on
	// a randomized column.
	SearchEquality SearchKind = 1 << iota
	// SearchOrder: an order-preserving encoding of the value's sort key,
	// for ranges and ORDER BY.
	SearchOrder
	// SearchMatch: keyed tokens of the lowered value's trigrams and
	// prefixes, for LIKE and ILIKE on text.
	SearchMatch
)

// SearchKinds is a column's set of search term kinds; zero when the
// column has no `search`.
type SearchKinds uint8

// Has reports whether k is in the set.
func (s SearchKinds) Has(k SearchKind) bool { return s&SearchKinds(k) != 0 }

var searchKindNames = []struct {
	kind SearchKind
	name string
}{{SearchEquality, "equality"}, {SearchOrder, "order"}, {SearchMatch, "match"}}

// String lists the kinds as the policy file writes them, in the order
// equality, order, match: "order, match".
func (s SearchKinds) String() string {
	var out []string
	for _, k := range searchKindNames {
		if s.Has(k.kind) {
			out = append(out, k.name)
		}
	}
	return strings.Join(out, ", ")
}

func (k SearchKind) String() string { return SearchKinds(k).String() }

// SearchState is how far a column's search terms have gone.
type SearchState string

const (
	// SearchBuilding is the default: terms are written but never used.
	SearchBuilding SearchState = "building"
	// SearchReady: every cell carries terms of search_key_version, so a
	// search may use them.
	SearchReady SearchState = "ready"
	// SearchRekeying: after a change of search_key_version, every cell
	// carries terms of some loaded version of the key (the backfill is
	// rewriting them to search_key_version): equality searches through
	// every loaded version's terms, order through none.
	SearchRekeying SearchState = "rekeying"
)

// searchSettings are a column's search keys as read, with their lines,
// for the checks that need all three and the column's other settings.
type searchSettings struct {
	given        bool // `search` is in the file, even if invalid
	line         int
	versionGiven bool
	versionLine  int
	stateGiven   bool
	stateLine    int
}

// search reads a column's `search` list. A value that is not a list is
// a shape error (Load fails), as a list where a single value belongs is.
func (r *reader) search(c *ProtectedColumn, s *searchSettings, n *yaml.Node, path string) {
	n = deref(n)
	s.given, s.line = true, n.Line
	if n.Kind != yaml.SequenceNode {
		r.fatal(n, path, "must be a list of search terms, e.g. [order, match], got %s", kindName(n))
		return
	}
	if len(n.Content) == 0 {
		r.problem(n.Line, path, "is empty; leave the key out when the column has no search terms")
		return
	}
	for _, item := range n.Content {
		item = deref(item)
		if item.Kind != yaml.ScalarNode {
			r.fatal(item, path, "must be a list of search terms, got an item that is %s", kindName(item))
			continue
		}
		k, ok := parseSearchKind(item.Value)
		switch {
		case !ok:
			r.problem(item.Line, path, "unknown search term %q (want equality, order or match)", item.Value)
		case c.Search.Has(k):
			r.problem(item.Line, path, "lists %s twice", item.Value)
		default:
			c.Search |= SearchKinds(k)
		}
	}
}

func parseSearchKind(s string) (SearchKind, bool) {
	for _, k := range searchKindNames {
		if k.name == s {
			return k.kind, true
		}
	}
	return 0, false
}

// searchKeyVersion reads `search_key_version`: a key version, 1 or more.
func (r *reader) searchKeyVersion(c *ProtectedColumn, s *searchSettings, n *yaml.Node, path, v string) {
	s.versionGiven, s.versionLine = true, deref(n).Line
	u, err := strconv.ParseUint(v, 10, 32)
	if err != nil || deref(n).Tag != "!!int" || u == 0 || u > math.MaxUint32 {
		r.problem(s.versionLine, path, "must be a key version, a whole number from 1 (the version of the column's key the terms derive from), got %q", v)
		return
	}
	c.SearchKeyVersion = uint32(u)
}

// searchState reads `search_state`.
func (r *reader) searchState(c *ProtectedColumn, s *searchSettings, n *yaml.Node, path, v string) {
	s.stateGiven, s.stateLine = true, deref(n).Line
	switch SearchState(v) {
	case SearchBuilding, SearchReady, SearchRekeying:
		c.SearchState = SearchState(v)
	default:
		r.problem(s.stateLine, path, "unknown search state %q (want building, ready or rekeying)", v)
	}
}

// checkSearch reports what the column's search keys cannot be, given its
// mode, type and state (the design's §3).
func (r *reader) checkSearch(c *ProtectedColumn, s *searchSettings) {
	if !s.given {
		if s.versionGiven {
			r.problem(s.versionLine, c.path+".search_key_version", "is set but the column has no search list")
		}
		if s.stateGiven {
			r.problem(s.stateLine, c.path+".search_state", "is set but the column has no search list")
		}
		return
	}
	if c.SearchState == "" {
		c.SearchState = SearchBuilding
	}
	if !s.versionGiven && c.Search != 0 {
		r.problem(s.line, c.path+".search_key_version", "is required with search (the version of key %q the terms derive from)", c.Key)
	}
	for _, k := range searchKindNames {
		if c.Search.Has(k.kind) && c.Type.OID != 0 && c.Mode != "" {
			if why := searchRefusal(c, k.kind); why != "" {
				r.problem(s.line, c.path+".search", "%s", why)
			}
		}
	}
	if c.SearchState != SearchBuilding && c.State != StateEncrypted {
		r.problem(s.stateLine, c.path+".search_state", "%s needs state: encrypted (a legacy plaintext row carries no term, so a search through terms would miss it)", c.SearchState)
	}
}

// searchRefusal is why col cannot have a term of kind k, or "".
// SearchTermAllowed is its test without the message (the proxy asks it
// at each Parse); TestSearchTermMatrix keeps the two one rule.
func searchRefusal(c *ProtectedColumn, k SearchKind) string {
	if _, array := c.Type.Element(); array || !orderable(c.Type) {
		return fmt.Sprintf("%s: type %s can have no search term (WHERE and ORDER BY on it are refused as well)", k, c.Type)
	}
	switch {
	case k == SearchEquality && c.Mode == ModeDeterministic:
		return "equality: a deterministic column has no equality term; its cells already are one (=, IN and joins compare them)"
	case k == SearchMatch && !isTextType(c.Type):
		return fmt.Sprintf("match: type %s has no match term (LIKE and ILIKE are for text, varchar and char)", c.Type)
	}
	return ""
}

// orderable: the types that have an order (and so an equality) term.
// Floats (0 = -0, NaN), timetz, json and jsonb have none.
func orderable(t LogicalType) bool {
	switch t.OID {
	case OIDFloat4, OIDFloat8, OIDTimetz, OIDJSON, OIDJSONB:
		return false
	}
	return true
}

func isTextType(t LogicalType) bool {
	switch t.OID {
	case OIDText, OIDVarchar, OIDBpchar:
		return true
	}
	return false
}

// SearchTermAllowed reports whether the policy accepts a term of kind k
// on a column of type t in mode m (the design's §3 table), for the
// packages that compute terms to check themselves against.
func SearchTermAllowed(t LogicalType, m Mode, k SearchKind) bool {
	_, array := t.Element()
	return !array && orderable(t) && !(k == SearchEquality && m == ModeDeterministic) && !(k == SearchMatch && !isTextType(t))
}

// crossCheckSearch: every column sharing a deterministic key has the
// same search list and search_key_version, so one value keeps one cell
// text across the key's equality domain (§4.7).
func (r *reader) crossCheckSearch(c, first *ProtectedColumn) {
	if c.Mode != ModeDeterministic || first.Mode != ModeDeterministic {
		return
	}
	if c.Search != first.Search || c.SearchKeyVersion != first.SearchKeyVersion {
		r.problem(c.line, c.path+".search", "columns sharing deterministic key %q must have the same search and search_key_version (equal values must keep equal cells): %s has %s here, %s has %s (line %d)",
			c.Key, c.QualifiedName(), describeSearch(c), first.QualifiedName(), describeSearch(first), first.line)
	}
}

func describeSearch(c *ProtectedColumn) string {
	if c.Search == 0 {
		return "no search"
	}
	return fmt.Sprintf("search [%s] version %d", c.Search, c.SearchKeyVersion)
}
