package config

import "strings"

// expand replaces ${VAR} with the value of VAR, ${VAR:-default} with the value of VAR or,
// when VAR is unset or empty, default (taken literally up to the first "}"), and $$ with
// a single $. Any other $ is an error, so a forgotten brace ($HOME) or an unescaped dollar
// is reported instead of silently kept. expanded reports whether a ${...} reference was
// used: such a value must then never be shown in a message.
//
// The result is a plain string: it is never parsed as YAML again, so a variable cannot
// inject structure into the configuration.
func expand(s string, lookup func(string) string) (out string, expanded bool, errs []string) {
	if !strings.Contains(s, "$") {
		return s, false, nil
	}
	var b strings.Builder
	for len(s) > 0 {
		i := strings.IndexByte(s, '$')
		if i < 0 {
			b.WriteString(s)
			break
		}
		b.WriteString(s[:i])
		s = s[i:]
		switch {
		case strings.HasPrefix(s, "$$"):
			b.WriteByte('$')
			s = s[2:]
		case strings.HasPrefix(s, "${"):
			end := strings.IndexByte(s, '}')
			if end < 0 {
				errs = append(errs, `"${" is not closed by "}"`)
				return "", true, errs
			}
			ref := s[2:end]
			s = s[end+1:]
			expanded = true
			name, def, hasDef := strings.Cut(ref, ":-")
			if !isEnvName(name) {
				if n := envNamePrefix(ref); n != "" {
					errs = append(errs, "${"+n+"...} is not supported: write ${"+n+"} or ${"+n+":-default}")
				} else {
					errs = append(errs, `invalid variable name in "${...}": use letters, digits and _, not starting with a digit`)
				}
				continue
			}
			v := lookup(name)
			switch {
			case v != "":
				b.WriteString(v)
			case hasDef:
				b.WriteString(def)
			default:
				errs = append(errs, "${"+name+"} is not set")
			}
		default:
			errs = append(errs, `"$" must start ${VAR} or ${VAR:-default}; write "$$" for a literal "$"`)
			s = s[1:]
		}
	}
	if len(errs) > 0 {
		return "", expanded, errs
	}
	return b.String(), expanded, nil
}

// envNamePrefix returns the variable name at the start of ref, if any.
func envNamePrefix(ref string) string {
	for i := 0; i < len(ref); i++ {
		if !isEnvName(ref[:i+1]) {
			return ref[:i]
		}
	}
	return ref
}
