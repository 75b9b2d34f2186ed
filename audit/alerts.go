package audit

import "time"

// AlertOptions are the alert thresholds; 0 disables a threshold.
type AlertOptions struct {
	Window          time.Duration // tumbling window per user (default 5m)
	PHIRowsPerUser  int64         // rows carrying protected columns read
	RefusalsPerUser int64
	BreakGlass      bool // an alert for every break-glass
}

// alertInput is what an event contributes to the alert counts.
type alertInput struct {
	user       string
	session    string
	phiRows    int64
	refusal    bool
	breakGlass bool
}

func alertInputOf(ev Event) alertInput {
	switch ev := ev.(type) {
	case *Statement:
		in := alertInput{user: userOf(ev.Session), session: sessionOf(ev.Session)}
		if len(ev.Read) > 0 {
			in.phiRows = ev.Rows
		}
		return in
	case *Refusal:
		return alertInput{user: userOf(ev.Session), session: sessionOf(ev.Session), refusal: true}
	case *BreakGlass:
		return alertInput{user: userOf(ev.Session), session: sessionOf(ev.Session), breakGlass: true}
	}
	return alertInput{}
}

func userOf(s *Session) string {
	if s == nil {
		return ""
	}
	return s.User
}

func sessionOf(s *Session) string {
	if s == nil {
		return ""
	}
	return s.ID
}

type userWindow struct {
	start           time.Time
	rows, refusals  int64
	rowsAlerted     bool
	refusalsAlerted bool
}

// alerter counts per user in tumbling windows and says when a threshold is
// crossed: once per user, kind and window. Used by the writer goroutine only.
type alerter struct {
	o     AlertOptions
	users map[string]*userWindow
	swept time.Time
}

func newAlerter(o AlertOptions) *alerter {
	if o.Window <= 0 {
		o.Window = 5 * time.Minute
	}
	return &alerter{o: o, users: make(map[string]*userWindow)}
}

// observe returns the alert entries the event triggers (without Time and
// Instance, which the writer sets).
func (a *alerter) observe(in alertInput, now time.Time) []Entry {
	var out []Entry
	if in.breakGlass && a.o.BreakGlass {
		out = append(out, Entry{Event: EventAlert, Alert: AlertBreakGlass, User: in.user, Session: in.session, Count: 1})
	}
	if in.phiRows == 0 && !in.refusal {
		return out
	}
	a.sweep(now)
	w := a.users[in.user]
	if w == nil || now.Sub(w.start) >= a.o.Window {
		w = &userWindow{start: now}
		a.users[in.user] = w
	}
	w.rows += in.phiRows
	if in.refusal {
		w.refusals++
	}
	win := int64(a.o.Window / time.Second)
	if t := a.o.PHIRowsPerUser; t > 0 && w.rows > t && !w.rowsAlerted {
		w.rowsAlerted = true
		out = append(out, Entry{Event: EventAlert, Alert: AlertPHIRows, User: in.user, Session: in.session, Count: w.rows, Threshold: t, WindowS: win})
	}
	if t := a.o.RefusalsPerUser; t > 0 && w.refusals > t && !w.refusalsAlerted {
		w.refusalsAlerted = true
		out = append(out, Entry{Event: EventAlert, Alert: AlertRefusals, User: in.user, Session: in.session, Count: w.refusals, Threshold: t, WindowS: win})
	}
	return out
}

// sweep drops expired windows once per window length, so the map holds
// only users active in the last two windows.
func (a *alerter) sweep(now time.Time) {
	if now.Sub(a.swept) < a.o.Window {
		return
	}
	a.swept = now
	for u, w := range a.users {
		if now.Sub(w.start) >= a.o.Window {
			delete(a.users, u)
		}
	}
}
