package admin

import "context"

// AuditEntry is one entry of the audit log as listed: never a secret.
type AuditEntry struct {
	Seq    int64  `json:"seq"`
	At     Time   `json:"at"`
	Actor  string `json:"actor"`
	Action string `json:"action"`
	Target string `json:"target"`
	Remote string `json:"remote"`
	Result string `json:"result"`
}

// ListAudit returns up to limit audit entries after sequence number after, oldest first.
func (s *Session) ListAudit(ctx context.Context, after int64, limit int) ([]AuditEntry, error) {
	es, err := s.svc.Store.ListAudit(ctx, after, limit)
	if err != nil {
		return nil, classify(err, "", "")
	}
	out := make([]AuditEntry, 0, len(es))
	for _, e := range es {
		out = append(out, AuditEntry{Seq: e.Seq, At: Time(e.At), Actor: e.Actor, Action: e.Action, Target: e.Target, Remote: e.Remote, Result: e.Result})
	}
	return out, nil
}
