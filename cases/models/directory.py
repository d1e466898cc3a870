"""The directory aggregate: areas (county → town → village → grid), units, agent accounts."""

from __future__ import annotations

import datetime as dt
import enum

from sqlalchemy import ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from cases.models.base import Base, StrEnumType, utcnow


class AreaLevel(enum.StrEnum):
    """The four levels of the county's service network."""

    COUNTY = "county"
    TOWN = "town"  # 乡镇/街道
    VILLAGE = "village"  # 村/社区
    GRID = "grid"  # 网格


class UnitLevel(enum.StrEnum):
    """Where a unit sits: a county department, a town office, a village committee."""

    COUNTY = "county"
    TOWN = "town"
    VILLAGE = "village"


class AgentRole(enum.StrEnum):
    """What an agent may do; the scope comes from the agent's area or department."""

    VILLAGE_PROXY = "village_proxy"  # 村级代办员
    TOWN_WORKER = "town_worker"  # 乡镇工作人员
    DEPARTMENT_HANDLER = "department_handler"  # 部门承办人
    COUNTY_SUPERVISOR = "county_supervisor"  # 县民情中心督办
    ADMIN = "admin"


class Area(Base):
    """A place in the county: the county itself, a town, a village or community, a grid."""

    __tablename__ = "areas"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(64))
    name_en: Mapped[str] = mapped_column(String(128), default="")
    level: Mapped[AreaLevel] = mapped_column(StrEnumType(AreaLevel))
    # town / township / subdistrict / village / community / grid — how the place calls itself.
    kind: Mapped[str] = mapped_column(String(16), default="")
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("areas.id"))
    # Materialised path of ids ("/1/4/17/"): scope checks are one indexed prefix comparison.
    path: Mapped[str] = mapped_column(String(255), default="/")
    duty_phone: Mapped[str] = mapped_column(String(32), default="")
    leader_name: Mapped[str] = mapped_column(String(32), default="")
    leader_title: Mapped[str] = mapped_column(String(64), default="")
    leader_phone: Mapped[str] = mapped_column(String(20), default="")
    inspector_name: Mapped[str] = mapped_column(String(32), default="")  # grid inspector 网格员
    inspector_phone: Mapped[str] = mapped_column(String(20), default="")

    parent: Mapped[Area | None] = relationship(remote_side=[id])

    __table_args__ = (Index("ix_areas_path", "path"), Index("ix_areas_parent_id", "parent_id"))

    def covers(self, other: Area) -> bool:
        """True when `other` is this area or lies inside it."""
        return other.path.startswith(self.path)


class Department(Base):
    """A unit that handles cases: county department, town office or village committee."""

    __tablename__ = "departments"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(64))
    name_en: Mapped[str] = mapped_column(String(128), default="")
    level: Mapped[UnitLevel] = mapped_column(StrEnumType(UnitLevel))
    area_id: Mapped[int] = mapped_column(ForeignKey("areas.id"))
    # The county department code a town office acts for (司法所 → justice); None for the town's
    # general service centre (便民服务中心) and for county departments themselves.
    function: Mapped[str | None] = mapped_column(String(64))
    is_intake_desk: Mapped[bool] = mapped_column(default=False)
    duty_phone: Mapped[str] = mapped_column(String(32), default="")
    head_name: Mapped[str] = mapped_column(String(32), default="")
    head_title: Mapped[str] = mapped_column(String(64), default="")
    head_phone: Mapped[str] = mapped_column(String(20), default="")
    # The supervising county leader (分管县领导) who is told of every red-light breach.
    leader_name: Mapped[str] = mapped_column(String(32), default="")
    leader_title: Mapped[str] = mapped_column(String(64), default="")
    leader_phone: Mapped[str] = mapped_column(String(20), default="")
    active: Mapped[bool] = mapped_column(default=True)

    area: Mapped[Area] = relationship()

    __table_args__ = (Index("ix_departments_area_id", "area_id"),)


class Agent(Base):
    """A console account: a proxy agent, town worker, department handler, supervisor or admin."""

    __tablename__ = "agents"

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    display_name: Mapped[str] = mapped_column(String(64))
    password_hash: Mapped[str] = mapped_column(String(255), default="")
    role: Mapped[AgentRole] = mapped_column(StrEnumType(AgentRole))
    area_id: Mapped[int | None] = mapped_column(ForeignKey("areas.id"))
    department_id: Mapped[int | None] = mapped_column(ForeignKey("departments.id"))
    phone: Mapped[str] = mapped_column(String(20), default="")
    language: Mapped[str] = mapped_column(String(8), default="zh")
    active: Mapped[bool] = mapped_column(default=True)
    # Accounts made by `zhitong demo`: their published password works only in demo mode.
    is_demo: Mapped[bool] = mapped_column(default=False)
    failed_logins: Mapped[int] = mapped_column(default=0)
    locked_until: Mapped[dt.datetime | None]
    last_login_at: Mapped[dt.datetime | None]
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)

    area: Mapped[Area | None] = relationship()
    department: Mapped[Department | None] = relationship()
