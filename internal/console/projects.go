package console

func (c *Console) projectRoutes() []Route {
	return []Route{}
}
