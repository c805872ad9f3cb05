package policy

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"

	"cel.dev/cel-go/cel"
	celast "cel.dev/cel-go/common/ast"
	"cel.dev/cel-go/common/cost"
	"cel.dev/cel-go/common/types"
	"cel.dev/cel-go/common/types/ref"
	"cel.dev/cel-go/interpreter"

	"github.com/gatehouse-dev/gatehouse/internal/decision"
)

// Limits of expressions.
const (
	// MaxExpressionBytes bounds an expression's source.
	MaxExpressionBytes = 4 << 10
	// MaxCost bounds an expression's cost, in CEL cost units (about one per operation,
	// one per element a macro visits): an expression whose estimated worst case is
	// higher is refused at load, and an evaluation that reaches it stops and counts as
	// unmet. A million units take a few milliseconds.
	MaxCost = 1_000_000
	// maxValueSize is the largest size (string length, list or map entries) the cost
	// estimate assumes for a claim or a header: a credential is at most
	// decision.MaxCredentialBytes, so nothing in it is longer.
	maxValueSize = decision.MaxCredentialBytes
)

var (
	envOnce sync.Once
	env     *cel.Env
	envErr  error
)

// celEnv is the environment every expression compiles in: claims (a map from claim
// name to its JSON value), subject, scopes, and request (method, path, host, and
// headers by lower-cased name, without credentials).
func celEnv() (*cel.Env, error) {
	envOnce.Do(func() {
		env, envErr = cel.NewEnv(
			cel.Variable("claims", cel.MapType(cel.StringType, cel.DynType)),
			cel.Variable("subject", cel.StringType),
			cel.Variable("scopes", cel.ListType(cel.StringType)),
			// request.* are qualified names, not a map: the checker knows each field and
			// its type, and an evaluation builds nothing it does not read.
			cel.Variable("request.method", cel.StringType),
			cel.Variable("request.path", cel.StringType),
			cel.Variable("request.host", cel.StringType),
			cel.Variable("request.headers", cel.MapType(cel.StringType, cel.StringType)),
			cel.CrossTypeNumericComparisons(true),
			cel.CustomTypeAdapter(adapter{types.DefaultTypeAdapter}),
		)
	})
	return env, envErr
}

// adapter is CEL's default adapter that also takes json.Number, the type of token
// claims decoded with UseNumber: an integer becomes an int, anything else a double.
type adapter struct{ types.Adapter }

func (a adapter) NativeToValue(v any) ref.Val {
	if n, ok := v.(json.Number); ok {
		if i, err := strconv.ParseInt(string(n), 10, 64); err == nil {
			return types.Int(i)
		}
		if f, err := n.Float64(); err == nil {
			return types.Double(f)
		}
		return types.NewErr("a number claim is out of range")
	}
	return a.Adapter.NativeToValue(v)
}

// Expression is a compiled CEL expression of a require block.
type Expression struct {
	// Source is the expression as written.
	Source string
	// Number is the expression's 1-based place in its require block, for messages.
	Number int
	// EstimatedCost is the worst-case cost the checker estimated.
	EstimatedCost uint64

	prg         cel.Program
	usesHeaders bool
	hidden      map[string]bool // lower-cased header names request.headers leaves out
	isFalse      string
	errored     string
	costly      string
}

// CompileError is a problem in an expression's source: Line (1-based) and Column
// (0-based) are where it starts in the source; Line is 0 when unknown.
type CompileError struct {
	Line, Column int
	Message      string
}

func (e *CompileError) Error() string { return e.Message }

// Compile parses and type-checks src, which must be a bool expression over claims,
// subject, scopes and request whose estimated cost stays within MaxCost. hidden are
// the request headers, besides Authorization, Proxy-Authorization and Cookie, that
// request.headers must not show (the API-key headers). number is its place in the
// require block.
func Compile(src string, number int, hidden []string) (*Expression, error) {
	if len(src) > MaxExpressionBytes {
		return nil, &CompileError{Message: fmt.Sprintf("the expression is %d bytes; at most %d are accepted", len(src), MaxExpressionBytes)}
	}
	if strings.TrimSpace(src) == "" {
		return nil, &CompileError{Message: "the expression is empty"}
	}
	e, err := celEnv()
	if err != nil {
		return nil, err
	}
	checked, iss := e.Compile(src)
	if iss != nil && iss.Err() != nil {
		first := iss.Errors()[0]
		return nil, &CompileError{Line: first.Location.Line(), Column: first.Location.Column(), Message: firstLine(first.Message) + issueMore(len(iss.Errors()))}
	}
	if !checked.OutputType().IsExactType(cel.BoolType) {
		return nil, &CompileError{Message: "the expression must be true or false, not a " + checked.OutputType().String()}
	}
	x := &Expression{Source: src, Number: number}
	celast.PreOrderVisit(celast.NavigateAST(checked.NativeRep()), celast.NewExprVisitor(func(ex celast.Expr) {
		if ex.Kind() == celast.IdentKind && ex.AsIdent() == "request.headers" {
			x.usesHeaders = true
		}
	}))
	est, err := e.EstimateCost(checked, sizeEstimator{})
	if err != nil {
		return nil, &CompileError{Message: "the expression's cost cannot be estimated: " + err.Error()}
	}
	if est.Max > MaxCost {
		return nil, &CompileError{Message: fmt.Sprintf("the expression may cost up to %s units on the largest claims a token can carry; at most %d are allowed: avoid nested macros (all, exists, map, filter) over claims or headers", costString(est.Max), MaxCost)}
	}
	x.EstimatedCost = est.Max
	prg, err := e.Program(checked, cel.CostLimit(MaxCost), cel.EvalOptions(cel.OptOptimize))
	if err != nil {
		return nil, &CompileError{Message: err.Error()}
	}
	x.prg = prg
	x.hidden = map[string]bool{"authorization": true, "proxy-authorization": true, "cookie": true}
	for _, h := range hidden {
		x.hidden[strings.ToLower(h)] = true
	}
	n := strconv.Itoa(number)
	x.isFalse = "expression #" + n + " is false"
	x.errored = "expression #" + n + " could not be evaluated (a claim absent or of another type); it counts as false"
	x.costly = "expression #" + n + " exceeded its cost limit; it counts as false"
	return x, nil
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(s, "\n")
	return s
}

func issueMore(n int) string {
	if n > 1 {
		return fmt.Sprintf(" (and %d more problems)", n-1)
	}
	return ""
}

func costString(c uint64) string {
	if c > 1e15 {
		return "an unbounded number of"
	}
	return strconv.FormatUint(c, 10)
}

// sizeEstimator tells the cost estimate how large claims and headers can be.
type sizeEstimator struct{}

func (sizeEstimator) EstimateSize(cost.AstNode) *cost.SizeEstimate {
	return &cost.SizeEstimate{Min: 0, Max: maxValueSize}
}

func (sizeEstimator) EstimateCallCost(string, string, *cost.AstNode, []cost.AstNode) *cost.CallEstimate {
	return nil
}

// Check implements decision.Requirement: an expression that is false, fails (an
// absent key, a value of another type) or exceeds MaxCost is unmet.
func (x *Expression) Check(ctx context.Context, p *decision.Principal, req *decision.Request) (unmet, cause string) {
	if req == nil {
		req = &noRequest
	}
	act := &activation{p: p, req: req, x: x}
	// Eval, not ContextEval: the cost limit already bounds the work, and a context
	// costs an allocation on every request.
	out, _, err := x.prg.Eval(act)
	if err != nil {
		if isCostError(err) {
			return x.costly, "expression_cost_exceeded"
		}
		return x.errored, "expression_error"
	}
	if b, ok := out.Value().(bool); ok && b {
		return "", ""
	}
	return x.isFalse, "expression_false"
}

func isCostError(err error) bool {
	return strings.Contains(err.Error(), "cost limit exceeded")
}

// activation resolves the variables of one evaluation; request is built only when the
// expression reads it.
type activation struct {
	p   *decision.Principal
	req *decision.Request
	x   *Expression
}

var (
	emptyClaims = map[string]any{}
	noRequest   decision.Request
)

func (a *activation) ResolveName(name string) (any, bool) {
	switch name {
	case "claims":
		if a.p.Claims == nil {
			return emptyClaims, true
		}
		return a.p.Claims, true
	case "subject":
		return types.String(a.p.Subject), true
	case "scopes":
		return a.p.Scopes, true
	case "request.method":
		return types.String(a.req.Method), true
	case "request.path":
		return types.String(a.req.Path), true
	case "request.host":
		return types.String(a.req.Host), true
	case "request.headers":
		return a.headers(), true
	}
	return nil, false
}

func (a *activation) Parent() interpreter.Activation { return nil }

// headers are the request's headers by lower-cased name, values of a repeated header
// joined with ", ", without the credential headers.
func (a *activation) headers() map[string]string {
	out := map[string]string{}
	if !a.x.usesHeaders || a.req.Header == nil {
		return out
	}
	hd, ok := a.req.Header.(http.Header)
	if !ok {
		return out
	}
	for name, vals := range hd {
		lower := strings.ToLower(name)
		if a.x.hidden[lower] {
			continue
		}
		out[lower] = strings.Join(vals, ", ")
	}
	return out
}
