import pytest

from unirank.search.pareto import hypervolume_2d, hypervolume_order, pareto_front, report_reference


def test_front_of_known_points():
    points = [(1, 5), (2, 3), (3, 4), (4, 1), (2, 3)]
    assert pareto_front(points) == [0, 1, 4, 3]


def test_hypervolume_of_known_points():
    assert hypervolume_2d([(1, 2), (2, 1)], (3, 3)) == 3.0
    assert hypervolume_2d([(5, 5)], (3, 3)) == 0.0


def test_hypervolume_order_front_by_front_greedy_by_added_area():
    points = [(1, 5), (2, 3), (3, 4), (4, 1), (2, 3)]
    # against (5, 6): (2, 3) alone holds 9; then (4, 1) adds 2 and (1, 5) adds 1; the duplicate
    # adds nothing; (3, 4) is on the second front
    assert hypervolume_order(points, (5, 6)) == [1, 3, 0, 4, 2]
    # a reference close to the front's largest cost: (1, 5) adds 1 × 1 after (2, 3), (4, 1) 0.2 × 2
    assert hypervolume_order([(1, 5), (2, 3), (4, 1)], (4.2, 6)) == [1, 0, 2]


def test_report_reference():
    assert report_reference([(1.0, 0.5), (2.0, 0.7)]) == pytest.approx((2.2, 0.72))
