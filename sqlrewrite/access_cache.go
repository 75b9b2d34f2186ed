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
// is bounded the same way as Analyzer (two generations of maps) and safe
// for concurrent use.
type AccessCache struct {
	mu    sync.Mutex
	half  int
	young map[string]*Access
	old   map[string]*Access
	// templates are rewrites shared by the texts of one shape
	// (access_template.go), keyed like the rewrites with the shape for the
	// text; two generations as well.
	templates, oldTemplates map[string]*accessTemplate
}

// NewAccessCache returns a cache of about maxEntries rewrites.
func NewAccessCache(maxEntries int) *AccessCache {
	half := max(maxEntries/2, 1)
	return &AccessCache{half: half, young: make(map[string]*Access, half), templates: make(map[string]*accessTemplate, half)}
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
	acc, ok := c.young[key]
	if !ok {
		if acc, ok = c.old[key]; ok {
			c.storeLocked(key, acc)
		}
	}
	c.mu.Unlock()
	if ok {
		return acc
	}
	var shapeBuf [512]byte
	var spanBuf [16]literalSpan
	shape, spans, shaped := appendShape(shapeBuf[:0], []byte(sql), spanBuf[:0])
	if !shaped || len(spans) == 0 {
		acc = AccessFor(sql, a, pol, role, objs, breakGlass)
		c.mu.Lock()
		c.storeLocked(key, acc)
		c.mu.Unlock()
		return acc
	}
	tkey := accessKey(string(shape), pol, role, objs, breakGlass)
	c.mu.Lock()
	t := c.template(tkey)
	c.mu.Unlock()
	if t != nil && t.shared {
		return t.instantiate(sql, spans)
	}
	acc = AccessFor(sql, a, pol, role, objs, breakGlass)
	if t == nil {
		t = makeTemplate(sql, spans, acc, a, pol, role, objs, breakGlass)
	}
	c.mu.Lock()
	c.storeLocked(key, acc)
	c.storeTemplateLocked(tkey, t)
	c.mu.Unlock()
	return acc
}

// template finds a shape's template in either generation.
func (c *AccessCache) template(key string) *accessTemplate {
	if t, ok := c.templates[key]; ok {
		return t
	}
	if t, ok := c.oldTemplates[key]; ok {
		c.storeTemplateLocked(key, t)
		return t
	}
	return nil
}

func (c *AccessCache) storeTemplateLocked(key string, t *accessTemplate) {
	if len(c.templates) >= c.half {
		c.oldTemplates, c.templates = c.templates, make(map[string]*accessTemplate, c.half)
	}
	c.templates[key] = t
}

func (c *AccessCache) storeLocked(key string, acc *Access) {
	if len(c.young) >= c.half {
		c.old, c.young = c.young, make(map[string]*Access, c.half)
	}
	c.young[key] = acc
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
