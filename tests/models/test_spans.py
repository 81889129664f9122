from models.spans import describe, spans


def test_frame_numbers_become_spans_and_words():
    assert spans([7, 1, 2, 3, 3]) == [(1, 4), (7, 8)]
    assert describe([3, 4, 5, 6, 7, 12, 20, 21]) == "3-7, 12, 20-21"
    assert describe([0, 1, 2, 6], offset=1) == "1-3, 7"
    assert describe([0, 2, 4, 6, 8], offset=1, limit=2) == "1, 3 and 3 more"
    assert describe([]) == ""
