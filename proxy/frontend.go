package proxy

import (
	"fmt"

	"github.com/phiguard/phiguard/internal/pgwire"
)

// frontendMessages are the message types a client may send once the
// session is running (PostgreSQL's own list, less the authentication
// responses, which belong to startup). Anything else ends the session with
// 08P01, as PostgreSQL would: no message the guard does not know reaches
// the backend.
var frontendMessages = [256]bool{
	pgwire.FeBind: true, pgwire.FeClose: true, pgwire.FeCopyData: true, pgwire.FeCopyDone: true, pgwire.FeCopyFail: true,
	pgwire.FeDescribe: true, pgwire.FeExecute: true, pgwire.FeFlush: true, pgwire.FeFunctionCall: true, pgwire.FeParse: true,
	pgwire.FeQuery: true, pgwire.FeSync: true, pgwire.FeTerminate: true,
}

// checkFrontendMessage refuses a message type outside frontendMessages.
func checkFrontendMessage(typ byte) error {
	if frontendMessages[typ] {
		return nil
	}
	return pgwire.Violation(fmt.Sprintf("invalid frontend message type %d", typ))
}
