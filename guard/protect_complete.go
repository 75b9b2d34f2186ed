package guard

// The answers that settle a statement or portal: ParseComplete,
// BindComplete and CloseComplete (backend pump).

func (s *Session) onParseComplete(_ byte, head *expectation) (bool, error) {
	handled := s.suppress
	if head.kind == expParse && head.trial {
		s.expects.pop() // reprepare.go: the text analyses; the Parse behind it settles
		return true, nil
	}
	if head.kind == expParse {
		if head.prep != nil && head.prep.replacing != nil {
			head.prep.replacing.settle(false)
		}
		s.stmts[head.name] = head.prep
		head.settleVariant(false)          // protect_search_variants.go
		handled = handled || head.injected // phiguard's own re-Parse
		s.expects.pop()
	}
	return handled, nil
}

func (s *Session) onBindComplete(_ byte, head *expectation) (bool, error) {
	if head.kind == expBind {
		p := s.portals[head.name]
		if p == nil {
			p = new(portalInfo)
			s.portals[head.name] = p
		}
		// A Bind replaces the portal of its name (the unnamed one at
		// almost every execution): its entry is reused, as nothing keeps
		// a *portalInfo beyond a lookup in this map.
		*p = portalInfo{stmt: s.stmts[head.stmt], formats: head.formats}
		s.notePortal(head.name, s.stmts[head.stmt])
		s.expects.pop()
	}
	return s.suppress, nil
}

func (s *Session) onCloseComplete(_ byte, head *expectation) (bool, error) {
	handled := s.suppress
	if head.kind == expClose {
		kept := head.prep != nil && head.prep.kept.Load() // reprepare.go: the Close went to no statement
		if head.prep != nil && head.prep.replacing != nil {
			if head.injected && !kept && head.prep.replacing.prev != nil {
				head.prep.replacing.prev.unprepared.Store(true) // reprepare.go: before settle lets prev go
			}
			head.prep.replacing.settle(false)
		}
		if head.closeS && !kept {
			delete(s.stmts, head.name)
		} else {
			delete(s.portals, head.name)
		}
		handled = handled || head.injected // the Close of a re-Parse
		if head.answer != nil && !s.suppress {
			// It stood in for the client's Describe (reprepare_unnamed.go).
			if _, err := s.cw.Write(head.answer); err != nil {
				return true, err
			}
		}
		head.settleVariant(false) // a reused plan's Close (plan_reuse.go)
		s.expects.pop()
	}
	return handled, nil
}
