package main

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/gatehouse-dev/gatehouse/internal/store"
)

// attrFlag is a repeatable --attr KEY=VALUE flag: the attributes of a key or user,
// which become its principal's claims (route requirements, header mappings).
type attrFlag map[string]string

func (a attrFlag) String() string { return formatAttrs(a) }

// Set adds one KEY=VALUE; a key given twice is refused rather than silently replaced.
func (a attrFlag) Set(s string) error {
	k, v, ok := strings.Cut(s, "=")
	if !ok {
		return fmt.Errorf("--attr %q: write KEY=VALUE (team=billing)", s)
	}
	if err := store.ValidateAttributeKey(k); err != nil {
		return fmt.Errorf("--attr: %v", err)
	}
	if _, dup := a[k]; dup {
		return fmt.Errorf("--attr: %s is given twice", k)
	}
	a[k] = v
	if err := store.ValidateAttributes(map[string]string{k: v}); err != nil {
		return fmt.Errorf("--attr: %v", err)
	}
	if len(a) > store.MaxAttributes {
		return fmt.Errorf("--attr: at most %d attributes", store.MaxAttributes)
	}
	return nil
}

// attrs returns the attributes, nil when none were given.
func (a attrFlag) attrs() map[string]string {
	if len(a) == 0 {
		return nil
	}
	return map[string]string(a)
}

// formatAttrs renders attributes for a table: k=v,k=v in key order, "-" for none.
// Values are sanitized like names: they may hold any printable text.
func formatAttrs(attrs map[string]string) string {
	if len(attrs) == 0 {
		return "-"
	}
	keys := slices.Sorted(maps.Keys(attrs))
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = k + "=" + sanitize(attrs[k])
	}
	return strings.Join(parts, ",")
}
