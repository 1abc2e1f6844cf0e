package console

func (c *Console) peopleRoutes() []Route {
	return []Route{}
}
