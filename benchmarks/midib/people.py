"""The synthetic patients, sites and physicians planted into the MIDI-B-like set.

Five patients in five scripts and character sets (US English, Swedish with Latin-1 accents,
Japanese in ISO 2022 IR 87, Chinese in GB18030, Korean in ISO 2022 IR 149), each with the
identifiers the MIDI-B challenge plants: names, IDs in their own formats, birth dates,
addresses, phones, e-mails, national IDs, institutions, physicians. All invented; national IDs
carry valid check digits (made with python-stdnum) so a validator cannot tell them from real
ones. Nothing here is a real person.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Physician:
    name: str  # PN, as stored
    family: str  # as written in prose ("Dr. Okonkwo")


@dataclass(frozen=True)
class Patient:
    key: str  # P1..P5: the answer key's name for the patient, never written into a file
    charset: str  # Specific Character Set of the patient's files
    name: str  # PN with its groups
    prose_name: str  # the name as written in a description ("Evelyn Hartley")
    patient_id: str
    id_digits: str  # the digits of the ID as written alone in free text ("MRN 55120394")
    other_id: str
    birth_date: str
    sex: str
    weight: str
    size: str
    address: str
    phone: str
    email: str
    national_id: str  # as written in Patient Comments
    national_label: str  # the words before it ("SSN")
    mother_name: str
    institution: str
    institution_address: str
    department: str
    station: str
    serial: str
    referring: Physician
    performing: Physician
    operator: Physician
    study_dates: tuple[str, ...]  # one per study
    accession_prefix: str


PATIENTS: tuple[Patient, ...] = (
    Patient(
        key="P1",
        charset="ISO_IR 100",
        name="HARTLEY^EVELYN^MARIE",
        prose_name="Evelyn Hartley",
        patient_id="MRN-0055120394",
        id_digits="55120394",
        other_id="SVI88231977",
        birth_date="19610423",
        sex="F",
        weight="68",
        size="1.65",
        address="1261 Leawood Street, Little Rock AR 72223",
        phone="501-555-0147",
        email="evelyn.hartley@example.org",
        national_id="536-22-4817",
        national_label="SSN",
        mother_name="WHITFIELD^ROSE",
        institution="St. Vincent Infirmary Medical Center",
        institution_address="2 St Vincent Circle, Little Rock AR 72205",
        department="Neuroradiology West",
        station="SVI-MR3-NEURO",
        serial="SN48213377",
        referring=Physician("OKONKWO^CHIDI", "Okonkwo"),
        performing=Physician("LINDQVIST^MARTA", "Lindqvist"),
        operator=Physician("PRZYBYLSKI^TOMASZ", "Przybylski"),
        study_dates=("20190304", "20200917", "20220111"),
        accession_prefix="SVA",
    ),
    Patient(
        key="P2",
        charset="ISO_IR 100",
        name="Brännström^Åsa",
        prose_name="Åsa Brännström",
        patient_id="KS00471123",
        id_digits="00471123",
        other_id="19480117-5524",
        birth_date="19480117",
        sex="F",
        weight="59",
        size="1.61",
        address="Storgatan 5, 11455 Stockholm",
        phone="+46 8 517 700 00",
        email="asa.brannstrom@exempel.se",
        national_id="480117-5524",
        national_label="Personnummer",
        mother_name="Ekdahl^Birgitta",
        institution="Karolinska Sjukhuset Solna",
        institution_address="Eugeniavägen 3, 17176 Solna",
        department="Neuroröntgen",
        station="KS-MR-SOLNA2",
        serial="SN77120458",
        referring=Physician("Fältskog^Henrik", "Fältskog"),
        performing=Physician("Wennerholm^Ingrid", "Wennerholm"),
        operator=Physician("Sjöberg^Lars", "Sjöberg"),
        study_dates=("20170602", "20210329"),
        accession_prefix="KSA",
    ),
    Patient(
        key="P3",
        charset="\\ISO 2022 IR 87",
        name="Yamada^Tarou=山田^太郎=やまだ^たろう",
        prose_name="山田太郎",
        patient_id="0012345678",
        id_digits="12345678",
        other_id="JP-T-20230815",
        birth_date="19790315",
        sex="M",
        weight="72",
        size="1.74",
        address="東京都千代田区丸の内1丁目9-1",
        phone="03-3212-2323",
        email="taro.yamada@example.jp",
        national_id="1234 5678 9018",
        national_label="マイナンバー",
        mother_name="Yamada^Hanako=山田^花子",
        institution="東京中央病院",
        institution_address="東京都中央区築地5丁目1-1",
        department="放射線科",
        station="TCH-MR1",
        serial="SN11990321",
        referring=Physician("Suzuki^Ichirou=鈴木^一郎", "鈴木"),
        performing=Physician("Takahashi^Kenji=高橋^健二", "高橋"),
        operator=Physician("Watanabe^Yui=渡辺^結衣", "渡辺"),
        study_dates=("20180726", "20230214"),
        accession_prefix="TCA",
    ),
    Patient(
        key="P4",
        charset="GB18030",
        name="Wang^Xiaoming=王^小明",
        prose_name="王小明",
        patient_id="ZY-2019-00321",
        id_digits="201900321",
        other_id="BJ5566778",
        birth_date="19850612",
        sex="M",
        weight="81",
        size="1.79",
        address="北京市朝阳区建国路88号",
        phone="+86 10 6552 8888",
        email="wangxm@example.cn",
        national_id="110105198506120034",
        national_label="身份证号",
        mother_name="Li^Xiuying=李^秀英",
        institution="北京协和医院",
        institution_address="北京市东城区帅府园1号",
        department="放射科",
        station="PUMCH-MR2",
        serial="SN55031987",
        referring=Physician("Zhang^Wei=张^伟", "张"),
        performing=Physician("Liu^Yang=刘^洋", "刘"),
        operator=Physician("Chen^Jing=陈^静", "陈"),
        study_dates=("20160108", "20190523", "20211130"),
        accession_prefix="PUA",
    ),
    Patient(
        key="P5",
        charset="\\ISO 2022 IR 149",
        name="Hong^Gildong=洪^吉洞=홍^길동",
        prose_name="홍길동",
        patient_id="K-7781234",
        id_digits="7781234",
        other_id="SNUH-99-4471",
        birth_date="19900101",
        sex="M",
        weight="77",
        size="1.76",
        address="서울특별시 중구 세종대로 110",
        phone="+82 2 2072 2114",
        email="gildong.hong@example.kr",
        national_id="900101-1234568",
        national_label="주민등록번호",
        mother_name="Kim^Yeonghui=金^英姬=김^영희",
        institution="서울대학교병원",
        institution_address="서울특별시 종로구 대학로 101",
        department="영상의학과",
        station="SNUH-MR4",
        serial="SN20240405",
        referring=Physician("Park^Jisoo=朴^智秀=박^지수", "박지수"),
        performing=Physician("Lee^Minho=李^敏浩=이^민호", "이민호"),
        operator=Physician("Choi^Yuna=崔^有娜=최^유나", "최유나"),
        study_dates=("20200403", "20240819"),
        accession_prefix="SNA",
    ),
)
