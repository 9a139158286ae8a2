"""Seed the response templates the system e-mails and agents start from: acknowledgement,
survey invitation, resolution, waiting on the customer and complaint acknowledgement, in
English and Chinese. A template that already exists (an administrator's own) is left as it is;
reversing removes the seeded codes."""

from django.db import migrations

TEMPLATES = [
    {
        "code": "acknowledgement",
        "name": "Acknowledgement of a new request",
        "case_type": None,
        "subject_en": "We have received your request {case_reference}",
        "body_en": (
            "Dear {customer_name},\n\n"
            "Thank you for contacting {bank_name}. We have received your request "
            "\u201c{case_subject}\u201d and registered it under the reference {case_reference}.\n\n"
            "Our {queue_name} team is looking into it and will reply to you by {due_date}. "
            "If you write to us again about this matter, please keep the reference "
            "{case_reference} in the subject line so that we can find your request at once.\n\n"
            "This is an automatic confirmation. Please never share your password, PIN or "
            "verification codes with anyone, including bank staff.\n\n"
            "Kind regards,\n"
            "Customer Service\n"
            "{bank_name}"
        ),
        "subject_zh": "我们已受理您的来函（{case_reference}）",
        "body_zh": (
            "尊敬的{customer_name}：\n\n"
            "您好！感谢您联系{bank_name}。我们已收到您提交的“{case_subject}”，"
            "受理编号为 {case_reference}。\n\n"
            "{queue_name}正在为您处理，并将于{due_date}前给您答复。"
            "如您就此事再次来信，请在邮件主题中保留受理编号 {case_reference}，"
            "以便我们及时查询。\n\n"
            "本邮件为系统自动发送的受理确认。"
            "温馨提示：请勿向任何人（包括银行工作人员）透露您的密码、动态验证码等信息。\n\n"
            "{bank_name}客户服务中心"
        ),
    },
    {
        "code": "survey_invitation",
        "name": "Satisfaction survey invitation",
        "case_type": None,
        "subject_en": "How did we do? Your feedback on {case_reference}",
        "body_en": (
            "Dear {customer_name},\n\n"
            "Your request \u201c{case_subject}\u201d ({case_reference}) has been resolved. "
            "We would be grateful if you could tell us how we did: the survey has three "
            "questions and takes less than a minute.\n\n"
            "{survey_link}\n\n"
            "The link is personal to you; please do not forward it. If anything about your "
            "request is still open, simply reply to this e-mail.\n\n"
            "Thank you for banking with {bank_name}.\n\n"
            "Customer Service\n"
            "{bank_name}"
        ),
        "subject_zh": "诚邀您评价本次服务（{case_reference}）",
        "body_zh": (
            "尊敬的{customer_name}：\n\n"
            "您好！您提交的“{case_subject}”（受理编号 {case_reference}）已处理完毕。"
            "诚邀您花一分钟时间对本次服务进行评价，您的意见将帮助我们不断改进。\n\n"
            "{survey_link}\n\n"
            "该链接仅供您本人使用，请勿转发。如您对处理结果仍有疑问，可直接回复本邮件。\n\n"
            "感谢您对{bank_name}的信任与支持！\n\n"
            "{bank_name}客户服务中心"
        ),
    },
    {
        "code": "resolution",
        "name": "Request resolved",
        "case_type": None,
        "subject_en": "Your request {case_reference} has been resolved",
        "body_en": (
            "Dear {customer_name},\n\n"
            "We are writing to let you know that your request \u201c{case_subject}\u201d "
            "(reference {case_reference}) has been resolved.\n\n"
            "[Describe what was done and any next steps for the customer.]\n\n"
            "If anything remains unclear, simply reply to this e-mail and we will pick your "
            "request up again.\n\n"
            "Kind regards,\n"
            "{agent_name}\n"
            "Customer Service, {bank_name}"
        ),
        "subject_zh": "您的业务（{case_reference}）已办理完毕",
        "body_zh": (
            "尊敬的{customer_name}：\n\n"
            "您好！您提交的“{case_subject}”（受理编号 {case_reference}）已办理完毕，"
            "处理结果如下：\n\n"
            "[请在此填写处理结果及后续安排]\n\n"
            "如您对处理结果有任何疑问，请直接回复本邮件，我们将继续为您跟进。\n\n"
            "{agent_name}\n"
            "{bank_name}客户服务中心"
        ),
    },
    {
        "code": "waiting_on_customer",
        "name": "Information needed from the customer",
        "case_type": None,
        "subject_en": "We need some information from you ({case_reference})",
        "body_en": (
            "Dear {customer_name},\n\n"
            "Thank you for your patience. To continue with your request "
            "\u201c{case_subject}\u201d (reference {case_reference}), we need the following "
            "from you:\n\n"
            "[List the information or documents needed.]\n\n"
            "Please reply to this e-mail with the information above. We will resume work on "
            "your request as soon as we hear from you.\n\n"
            "Kind regards,\n"
            "{agent_name}\n"
            "Customer Service, {bank_name}"
        ),
        "subject_zh": "请您补充相关信息（{case_reference}）",
        "body_zh": (
            "尊敬的{customer_name}：\n\n"
            "您好！感谢您的耐心等待。为继续办理您提交的“{case_subject}”"
            "（受理编号 {case_reference}），还需要您补充以下信息：\n\n"
            "[请列明所需的信息或材料]\n\n"
            "请直接回复本邮件提供上述信息，我们收到后将立即继续为您办理。\n\n"
            "{agent_name}\n"
            "{bank_name}客户服务中心"
        ),
    },
    {
        "code": "complaint_acknowledgement",
        "name": "Complaint acknowledgement",
        "case_type": "complaint",
        "subject_en": "Your complaint {case_reference} has been registered",
        "body_en": (
            "Dear {customer_name},\n\n"
            "We received your complaint \u201c{case_subject}\u201d and registered it on "
            "{today} under the reference {case_reference}.\n\n"
            "We take every complaint seriously. In line with the rules on handling consumer "
            "complaints at banking institutions, we will look into it and give you our answer "
            "by {due_date} at the latest. Should we need more time, we will tell you the "
            "reason before that date.\n\n"
            "If you are not satisfied with our answer, you may ask us to review it, or call "
            "the banking and insurance consumer complaints hotline 12378.\n\n"
            "Kind regards,\n"
            "Consumer Protection Department\n"
            "{bank_name}"
        ),
        "subject_zh": "您的投诉已受理（{case_reference}）",
        "body_zh": (
            "尊敬的{customer_name}：\n\n"
            "您好！我们已于{today}收到您的投诉“{case_subject}”，投诉编号为 {case_reference}。\n\n"
            "我们高度重视您反映的问题。根据《银行保险机构消费投诉处理管理办法》的规定，"
            "我们将认真调查核实，并最迟于{due_date}前将处理意见告知您。"
            "如情况复杂需要延长处理期限，我们将在期限届满前告知您延期理由。\n\n"
            "如您对处理意见不满意，可向我行申请核查，也可拨打银行保险消费者投诉维权热线 12378。\n\n"
            "{bank_name}消费者权益保护部"
        ),
    },
]


def seed_templates(apps, schema_editor):
    ResponseTemplate = apps.get_model("support", "ResponseTemplate")
    CaseType = apps.get_model("support", "CaseType")
    for item in TEMPLATES:
        if ResponseTemplate.objects.filter(code=item["code"]).exists():
            continue
        values = dict(item)
        type_code = values.pop("case_type")
        values["case_type"] = CaseType.objects.filter(code=type_code).first() if type_code else None
        ResponseTemplate.objects.create(is_active=True, **values)


def remove_templates(apps, schema_editor):
    ResponseTemplate = apps.get_model("support", "ResponseTemplate")
    ResponseTemplate.objects.filter(code__in=[item["code"] for item in TEMPLATES]).delete()


class Migration(migrations.Migration):
    dependencies = [("support", "0003_complaint_codes")]
    operations = [migrations.RunPython(seed_templates, remove_templates)]
