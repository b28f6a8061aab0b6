package provider

// Caller is the provider called name when it can call back (it
// implements Caller).
func (r *Registry) Caller(name string) (Caller, bool) {
	p, ok := r.Provider(name)
	if !ok {
		return nil, false
	}
	c, ok := p.(Caller)
	return c, ok
}
