package console

func (c *Console) flagRoutes() []Route {
	return []Route{}
}
