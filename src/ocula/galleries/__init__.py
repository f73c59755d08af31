"""Face galleries: enrol, identify 1:N with an honest "unknown", forget (stored as Collections)."""

from .fpir_thresholds import GalleryThreshold, threshold_for_fpir
from .gallery import Candidate, Enrolment, Gallery, Identification, Person, drop_gallery, gallery_names
from .person_search import PersonMatch, PersonSearch, search_person
from .reindex import GalleryReindex, reindex_gallery

__all__ = [
    "Candidate",
    "Enrolment",
    "Gallery",
    "GalleryReindex",
    "GalleryThreshold",
    "Identification",
    "Person",
    "PersonMatch",
    "PersonSearch",
    "drop_gallery",
    "gallery_names",
    "reindex_gallery",
    "search_person",
    "threshold_for_fpir",
]
