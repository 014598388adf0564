from unirank.search.pareto import hypervolume_2d, pareto_front


def test_front_of_known_points():
    points = [(1, 5), (2, 3), (3, 4), (4, 1), (2, 3)]
    assert pareto_front(points) == [0, 1, 4, 3]


def test_hypervolume_of_known_points():
    assert hypervolume_2d([(1, 2), (2, 1)], (3, 3)) == 3.0
    assert hypervolume_2d([(5, 5)], (3, 3)) == 0.0
