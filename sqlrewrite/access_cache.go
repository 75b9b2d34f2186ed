package sqlrewrite

import (
	"strconv"
	"sync"

	"github.com/phiguard/phiguard/policy"
)

// AccessCache keeps the rewrites of AccessFor, keyed by everything that
// can change one: the exact text, the policy version, the role, whether
// break-glass is on, and the version of the database objects. A rewrite
// made for one role, policy or catalog therefore never serves another. It
// is bounded like Analyzer, by entries and by estimated bytes (half the
// budget for rewrites, half for templates), and safe for concurrent use.
type AccessCache struct {
	mu       sync.Mutex
	rewrites *genCache[*Access]
	// templates are rewrites shared by the texts of one shape
	// (access_template.go), keyed like the rewrites with the shape for the
	// text.
	templates *genCache[*accessTemplate]
}

// NewAccessCache returns a cache of at most about maxEntries rewrites
// (and as many templates) and maxBytes bytes.
func NewAccessCache(maxEntries int, maxBytes int64) *AccessCache {
	return &AccessCache{
		rewrites:  newGenCache(maxEntries, maxBytes/2, accessCost),
		templates: newGenCache(maxEntries, maxBytes/2, templateCost),
	}
}

// For is AccessFor through the cache. A nil cache computes every time.
func (c *AccessCache) For(sql string, a *Analysis, pol *policy.Policy, role *policy.Role, objs Objects, breakGlass bool) *Access {
	if role == nil || role.Unrestricted() {
		return &Access{SQL: sql}
	}
	if c == nil {
		return AccessFor(sql, a, pol, role, objs, breakGlass)
	}
	key := accessKey(sql, pol, role, objs, breakGlass)
	c.mu.Lock()
	acc, ok := c.rewrites.get(key)
	c.mu.Unlock()
	if ok {
		return acc
	}
	var shapeBuf [512]byte
	var spanBuf [16]literalSpan
	shape, spans, shaped := appendShape(shapeBuf[:0], []byte(sql), spanBuf[:0])
	if !shaped || len(spans) == 0 {
		acc = AccessFor(sql, a, pol, role, objs, breakGlass)
		c.store(key, acc, a)
		return acc
	}
	tkey := accessKey(string(shape), pol, role, objs, breakGlass)
	c.mu.Lock()
	t, _ := c.templates.get(tkey)
	c.mu.Unlock()
	if t != nil && t.shared {
		acc = t.instantiate(sql, spans)
		releaseIfReplaced(a, acc)
		return acc
	}
	acc = AccessFor(sql, a, pol, role, objs, breakGlass)
	if t == nil {
		t = makeTemplate(sql, spans, acc, a, pol, role, objs, breakGlass)
		c.mu.Lock()
		c.templates.put(tkey, t, int64(len(tkey)))
		c.mu.Unlock()
	}
	c.store(key, acc, a)
	return acc
}

// store caches a copy of a rewrite, without the analysis of its text
// (which the analyzer's cache holds, by its own bounds). An unchanged
// rewrite's text is the tail of its key, so that the entry holds the
// text once.
func (c *AccessCache) store(key string, made *Access, a *Analysis) {
	releaseIfReplaced(a, made)
	acc := new(Access)
	*acc = *made
	acc.written = nil
	if !acc.Changed && len(acc.SQL) <= len(key) && acc.SQL == key[len(key)-len(acc.SQL):] {
		acc.SQL = key[len(key)-len(acc.SQL):]
	}
	c.mu.Lock()
	c.rewrites.put(key, acc, int64(len(key)))
	c.mu.Unlock()
}

// Bytes reports the bytes the cache accounts for its rewrites and
// templates: an upper bound of what they hold, for tests and metrics.
func (c *AccessCache) Bytes() int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.rewrites.bytes() + c.templates.bytes()
}

// releaseIfReplaced lets a's parse tree go when the rewrite replaces a's
// text: the proxy then plans the rewritten text, never a's, and the tree
// would only weigh on the cache until the next policy version.
func releaseIfReplaced(a *Analysis, acc *Access) {
	if a != nil && acc.Changed {
		a.tree.Store(nil)
	}
}

// accessKey joins the parts with NUL bytes, which none of them can hold
// (PostgreSQL refuses NUL in query text), so that no two keys collide.
func accessKey(sql string, pol *policy.Policy, role *policy.Role, objs Objects, breakGlass bool) string {
	objVersion := ""
	if objs != nil {
		objVersion = objs.Version()
	}
	polVersion := ""
	if pol != nil {
		polVersion = pol.Version()
	}
	return polVersion + "\x00" + role.Name + "\x00" + strconv.FormatBool(breakGlass) + "\x00" + objVersion + "\x00" + sql
}
