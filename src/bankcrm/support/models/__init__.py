"""Customer service: cases from every channel, their queues and SLAs, the conversation,
regulated complaints, response templates, the knowledge base and satisfaction surveys."""

from .cases import CaseLink, CaseMessage, CaseSequence, SatisfactionSurvey, ServiceCase
from .complaints import Complaint, ComplaintCode, ComplaintDeadlineRule
from .knowledge import CaseArticleLink, KnowledgeArticle, ResponseTemplate
from .setup import CaseType, Queue, QueueMember, SlaPolicy

__all__ = [
    "CaseArticleLink",
    "CaseLink",
    "CaseMessage",
    "CaseSequence",
    "CaseType",
    "Complaint",
    "ComplaintCode",
    "ComplaintDeadlineRule",
    "KnowledgeArticle",
    "Queue",
    "QueueMember",
    "ResponseTemplate",
    "SatisfactionSurvey",
    "ServiceCase",
    "SlaPolicy",
]
