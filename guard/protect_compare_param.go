package guard

import (
	"github.com/jackc/pgx/v5/pgproto3"
	"github.com/phiguard/phiguard/internal/pgerr"
	"github.com/phiguard/phiguard/policy"
	"github.com/phiguard/phiguard/sqlrewrite"
)

// A $n parameter compared with a deterministic column is encrypted at
// Bind, where its value first exists. During a re-encryption the column
// holds cells of every live key version, so one cell is not enough: at
// Parse the statement gets one hidden parameter per older live version,
// numbered after the client's highest, and the comparison accepts them
// all, as compareLiteral does for literals:
//
//	col = $1          ->  col = ANY(ARRAY[$1,$3])     ($2 is the client's highest)
//	col <> $1         ->  col <> ALL(ARRAY[$1,$3])
//	col IN ($1, 'x')  ->  col IN ($1,$3, ...)         (NOT IN alike)
//
// The hidden parameters are declared text (the type of a cell), cut from
// the ParameterDescription the client sees, and filled at each Bind with
// the client's value sealed under the older versions. The client never
// learns of them. A column with `search` has two cells per live version
// (with and without its search terms, protect_compare.go), so its
// compared parameter gets hidden parameters even with one live version;
// the ranks count EqualityCandidates' texts. With one live version and
// no `search` nothing changes. A parameter left
// of the column (`$1 = col`) or in extra parentheses is refused while the
// column has several candidates, as a literal there is (unlisted).

// hiddenParam is a parameter phiguard added to a statement: the cell of
// the client's $of of rank rank among its equality candidates (0 is the
// write version's, which $of itself carries).
type hiddenParam struct {
	of   int
	rank int
	col  *policy.ProtectedColumn
}

// compareParams rewrites sql, a Parse's text after its literals are
// encrypted, so that each compared parameter of a key with several live
// versions also accepts the hidden parameters. declared is how many
// parameter types the client's Parse gave. It returns the text, the hidden
// parameters in number order, and the client's parameter count (the
// highest of the declared count and the highest $n in the text); a text
// with nothing to change comes back as it is, with no hidden parameters.
func (s *Session) compareParams(sql []byte, plan *sqlrewrite.Plan, declared int) ([]byte, []hiddenParam, int, *pgerr.Error) {
	sites, pe := s.compareSites(plan)
	if pe != nil || len(sites) == 0 {
		return sql, nil, declared, pe
	}
	spans := sqlrewrite.ParamSpans(sql)
	clientParams := declared
	for _, sp := range spans {
		if n, ok := sqlrewrite.ParamNumber(sql, sp); ok {
			clientParams = max(clientParams, n)
		}
	}
	var hidden []hiddenParam
	numbers := map[int][]int{} // client $n → the numbers of its hidden parameters
	var edits []sqlrewrite.Edit
	// A plan may hold one $n token twice: the planner walks some
	// expressions twice (a GROUP BY position or alias names a select-list
	// entry; each target of SET (a, b) = source had a copy of it). The
	// same value at the same place is one edit; anything else at one
	// place would be two, and Splice refuses them.
	edited := map[int]sqlrewrite.ValueSlot{}
	for _, st := range sites {
		v := st.v
		if e, ok := edited[v.Token]; ok && e.Param == v.Param && e.Column == v.Column && e.Form == v.Form {
			continue
		}
		edited[v.Token] = v
		if v.Token >= len(spans) {
			return nil, nil, 0, internalRefusal(v.Column, "parameter positions disagree")
		}
		if n, ok := sqlrewrite.ParamNumber(sql, spans[v.Token]); !ok || n != v.Param {
			return nil, nil, 0, internalRefusal(v.Column, "parameter positions disagree")
		}
		if !v.Form.FitsList(sql, spans[v.Token]) {
			return nil, nil, 0, s.unlisted(v.Column)
		}
		if numbers[v.Param] == nil {
			for rank := 1; rank < st.live; rank++ {
				hidden = append(hidden, hiddenParam{of: v.Param, rank: rank, col: v.Column})
				numbers[v.Param] = append(numbers[v.Param], clientParams+len(hidden))
			}
		}
		list := v.Form.ParamList(append([]int{v.Param}, numbers[v.Param]...))
		edits = append(edits, sqlrewrite.Edit{Span: spans[v.Token], Text: list})
	}
	if len(hidden) == 0 {
		return sql, nil, declared, nil
	}
	out, ok := sqlrewrite.Splice(sql, edits)
	if !ok {
		return nil, nil, 0, internalRefusal(sites[0].v.Column, "overlapping parameters")
	}
	return out, hidden, clientParams, nil
}

// compareSite is a compared parameter of a column with several
// candidates, and how many.
type compareSite struct {
	v    sqlrewrite.ValueSlot
	live int
}

// compareSites lists plan's compared parameters whose columns have more
// than one candidate, and refuses one the text has no place for
// (unlisted).
func (s *Session) compareSites(plan *sqlrewrite.Plan) ([]compareSite, *pgerr.Error) {
	var sites []compareSite
	for _, v := range plan.Values {
		if v.Literal >= 0 || v.Use != sqlrewrite.UseCompare {
			continue
		}
		if v.Form == sqlrewrite.CompareOther || v.Token < 0 {
			if pe := s.unlisted(v.Column); pe != nil {
				return nil, pe
			}
			continue
		}
		live, pe := s.candidateCount(v.Column)
		if pe != nil {
			return nil, pe
		}
		if live > 1 {
			sites = append(sites, compareSite{v, live})
		}
	}
	return sites, nil
}

// hiddenValues returns the values of a statement's hidden parameters for
// one Bind: the client's compared value (params, as sent, with its format
// codes) sealed under each older live version. A NULL stays NULL.
func (s *Session) hiddenValues(hidden []hiddenParam, params [][]byte, formats []int16) ([][]byte, *pgerr.Error) {
	out := make([][]byte, len(hidden))
	cands := map[int][][]byte{}
	for i, h := range hidden {
		j := h.of - 1
		if j >= len(params) || params[j] == nil {
			continue
		}
		if matchesNothing(h.col, params[j]) {
			out[i] = []byte(noMatchCell)
			continue
		}
		cs, ok := cands[h.of]
		if !ok {
			canon, err := s.canonicalValue(h.col, formats[j], params[j])
			if err != nil {
				return nil, valueError(h.col, err)
			}
			var pe *pgerr.Error
			if cs, pe = s.equalityCandidates(h.col, canon); pe != nil {
				return nil, pe
			}
			cands[h.of] = cs
		}
		// The ranks were counted under the keys at Parse, which are still
		// the keys in use (recheckKeys refuses a Bind after they changed);
		// should one be missing, the write version's cell repeats, which
		// matches nothing new.
		if h.rank < len(cs) {
			out[i] = cs[h.rank]
		} else if len(cs) > 0 {
			out[i] = cs[0]
		}
	}
	return out, nil
}

// addHiddenParams adds the parameters phiguard passes itself, for
// equality search during a re-encryption (protect_compare_param.go).
func (s *Session) addHiddenParams(info *stmtInfo, msg *pgproto3.Parse) *pgerr.Error {
	sql, hidden, clientParams, pe := s.compareParams([]byte(msg.Query), info.plan, len(msg.ParameterOIDs))
	if pe != nil || hidden == nil {
		return pe
	}
	msg.Query = string(sql)
	for len(msg.ParameterOIDs) < clientParams {
		msg.ParameterOIDs = append(msg.ParameterOIDs, 0) // unspecified, as the client left it
	}
	for range hidden {
		msg.ParameterOIDs = append(msg.ParameterOIDs, oidText)
	}
	info.hidden, info.clientParams = hidden, clientParams
	return nil
}
