package main

import (
	"context"
	"fmt"
	"strconv"

	"github.com/gatehouse-dev/gatehouse/internal/admin"
)

func init() {
	register(command{name: "audit", summary: "list the audit log of admin changes", run: runAudit})
}

const auditUsage = `Usage:
  gatehouse audit list --config FILE [--json]

Lists every change made through the admin API or the CLI's admin commands, oldest
first: when, who (the admin token, or cli:<user> for the local CLI), what, to which
record, from where, and the result. It never holds a secret.

Exit status: 0 done, 1 failed, 2 bad usage.
`

func runAudit(ctx context.Context, env *cliEnv, args []string) int {
	return dispatch(ctx, env, "audit", auditUsage, map[string]subcommand{"list": auditList}, args)
}

func auditList(ctx context.Context, env *cliEnv, args []string) int {
	var sf storeFlags
	fs := newStoreFlagSet("audit list", env, &sf)
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		return cliUsageError(env, "audit list", auditUsage, err)
	}
	if len(pos) > 0 {
		return cliUsageError(env, "audit list", auditUsage, fmt.Errorf("unexpected argument %q", pos[0]))
	}
	s, done, err := localAdmin(ctx, env, sf.config, true)
	if err != nil {
		return cliFail(env, "audit list", err)
	}
	defer done()
	return listPaged(env, "audit list", sf.json, "SEQ\tTIME\tACTOR\tACTION\tTARGET\tFROM\tRESULT",
		"The audit log is empty.",
		func(after string) ([]admin.AuditEntry, error) {
			n, _ := strconv.ParseInt(after, 10, 64)
			return s.ListAudit(ctx, n, 1000)
		},
		func(e admin.AuditEntry) string { return strconv.FormatInt(e.Seq, 10) },
		func(e admin.AuditEntry) (any, string, bool) {
			return e, fmt.Sprintf("%d\t%s\t%s\t%s\t%s\t%s\t%s", e.Seq, humanTime(e.At.T(), "-"), sanitize(e.Actor), e.Action,
				orDash(sanitize(e.Target)), e.Remote, e.Result), true
		})
}
