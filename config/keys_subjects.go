package config

// SubjectKeys configures crypto-shredding's per-subject keys
// (docs/shredding.md). They exist only for tables whose policy names a
// subject_column; the section may stay empty.
type SubjectKeys struct {
	// CacheTTL bounds how long a proxy uses a subject key (or the fact that
	// it was shredded) from memory before asking the provider again. It is
	// also the longest a running proxy may go on reading a subject's cells
	// after `phiguard shred`. Default 1m; at most 1h.
	CacheTTL Duration `yaml:"cache_ttl"`
	// CacheEntries bounds the subject keys held in memory. Default 100000.
	CacheEntries int `yaml:"cache_entries"`
	// ShreddedMarker is what a text cell of a shredded subject reads as;
	// "" (the default) reads NULL. Columns of other types always read NULL.
	ShreddedMarker string `yaml:"shredded_marker"`
}

func (s SubjectKeys) validate(add func(string, string, ...any)) {
	if s.CacheTTL < 0 || s.CacheTTL.Std() > 3600e9 {
		add("keys.subjects.cache_ttl", "must be between 0 (the default, 1m) and 1h")
	}
	if s.CacheEntries < 0 {
		add("keys.subjects.cache_entries", "must not be negative")
	}
	if len(s.ShreddedMarker) > 64 {
		add("keys.subjects.shredded_marker", "must be at most 64 bytes")
	}
}
